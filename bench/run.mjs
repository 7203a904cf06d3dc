#!/usr/bin/env node
// Runs every benchmark in turn (each writes its own section of bench/RESULTS.md).
// `npm run bench` or `node bench/run.mjs [name…]` (names: startup exec store images remote oci install).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ALL = ['startup', 'exec', 'store', 'images', 'remote', 'oci', 'install'];
const names = process.argv.slice(2).length ? process.argv.slice(2) : ALL;
let failed = 0;
for (const name of names) {
  if (!ALL.includes(name)) {
    console.error(`unknown benchmark "${name}" (one of: ${ALL.join(', ')})`);
    process.exit(2);
  }
  console.error(`\n== bench/${name}.mjs`);
  const r = spawnSync(process.execPath, [fileURLToPath(new URL(`./${name}.mjs`, import.meta.url))], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
