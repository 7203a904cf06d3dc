#!/usr/bin/env node
// Builds native/ into build/ with make and a C compiler. Run by npm at install when it runs
// this package's scripts (npm 11 asks: `--allow-scripts=@karapace/native`), and by hand:
//   node node_modules/@karapace/native/build-from-source.mjs
// With --if-no-prebuilt it does nothing when prebuilt/<platform>-<arch>/ matches this machine.
// A failed build is a warning, not a failed install: karapace names the missing binary and
// this command when it needs one.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const platform = `${process.platform}-${process.arch}`;
if (process.argv.includes('--if-no-prebuilt') && existsSync(`${here}prebuilt/${platform}/karapace-sandbox`)) process.exit(0);

const r = spawnSync('make', ['-s', '-C', here], { stdio: 'inherit' });
if (r.status !== 0) {
  const why = r.error ? `make is not installed (${r.error.message})` : `make exited ${r.status}`;
  console.warn(`@karapace/native: no prebuilt binaries for ${platform} and building them failed: ${why}.`);
  console.warn('  Install gcc, make and libc6-dev (static libc, for karapace-init), then run this again:');
  console.warn(`  node ${here}build-from-source.mjs`);
  process.exitCode = process.argv.includes('--if-no-prebuilt') ? 0 : 1;
}
