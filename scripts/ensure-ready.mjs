// Makes a fresh clone ready to run: installs npm dependencies when missing or stale,
// builds native/ and the TypeScript packages. Idempotent and quick when nothing changed.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`karapace setup: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

const lock = 'package-lock.json';
const marker = 'node_modules/.package-lock.json';
if (!existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs)) {
  run('npm', ['ci', '--no-audit', '--no-fund']);
} else if (existsSync('native/Makefile')) {
  run('make', ['-s', '-C', 'native']);
}
run('npx', ['tsc', '-b']);
run(process.execPath, ['scripts/bundle.mjs']);
