#!/usr/bin/env node
// karapace-dbus: serves org.karapace.Manager1 until SIGTERM/SIGINT (or the bus goes away).
import { asKarapaceError } from '@karapace/kernel';
import { startService } from './service.js';
import { BUS_NAME } from './manager.js';

const storeFlag = process.argv.indexOf('--store');
try {
  const service = await startService({ ...(storeFlag > 0 ? { store: process.argv[storeFlag + 1] } : {}), env: process.env, cwd: process.env.HOME ?? process.cwd() });
  process.stderr.write(`karapace-dbus: serving ${BUS_NAME}\n`);
  const stop = () => void service.stop().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  service.bus.on('error', (err: unknown) => {
    process.stderr.write(`karapace-dbus: bus error: ${String(err)}\n`);
    process.exit(1);
  });
} catch (err) {
  const e = asKarapaceError(err);
  process.stderr.write(`karapace-dbus: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}\n`);
  process.exitCode = e.exitCode;
}
