// Builds native/ (sandbox launcher, flock addon) at install time when a C toolchain exists.
// Missing toolchain is not fatal: the mock backend and most of the CLI work without it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (existsSync(new URL('../native/Makefile', import.meta.url))) {
  const r = spawnSync('make', ['-s', '-C', 'native'], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.warn('karapace: building native/ failed; the namespace backend and store lock need it (install gcc and make, then `npm run build:native`).');
    process.exitCode = process.env.CI ? 1 : 0;
  }
}
