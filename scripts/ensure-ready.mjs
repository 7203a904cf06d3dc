// Makes a fresh clone ready to run: the system packages (installed with apt when run as
// root on Debian/Ubuntu, otherwise listed with the command to install them), npm
// dependencies when missing or stale, native/, the TypeScript packages and the bundle.
// Idempotent and quick when nothing changed.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.status !== 0) {
    console.error(`karapace setup: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

function missingSystemPackages() {
  if (!existsSync('/usr/bin/dpkg-query')) return [];
  const wanted = readFileSync('scripts/system-packages.txt', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Package} ${Status}\n', ...wanted], { encoding: 'utf8' });
  const installed = new Set(r.stdout.split('\n').filter((l) => l.endsWith(' installed')).map((l) => l.split(' ')[0]));
  return wanted.filter((p) => !installed.has(p));
}

const missing = missingSystemPackages();
if (missing.length && process.getuid?.() === 0 && process.env.KARAPACE_SKIP_APT !== '1') {
  console.error(`karapace setup: installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env, stdio: ['ignore', 'ignore', 'inherit'] });
} else if (missing.length) {
  console.error(`karapace setup: missing system packages (tests that need them will fail or skip): ${missing.join(' ')}`);
  console.error(`  install them with: sudo apt-get install ${missing.join(' ')}`);
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
