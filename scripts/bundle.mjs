// Bundles the CLI (cli/dist → cli/dist/bundle) with esbuild: start-up is dominated by module
// resolution and loading, and one bundle with lazily loaded chunks loads much faster than
// hundreds of files. Native addons and their loaders stay external.
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';

const outdir = 'cli/dist/bundle';
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { karapace: 'cli/dist/bin.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  // Prebuilt native modules load their platform binary by name at run time.
  external: ['@napi-rs/*', 'dbus-next', 'typescript'],
  // CommonJS dependencies call require(); give ESM chunks a real one.
  banner: { js: "import { createRequire as __karapaceRequire } from 'node:module'; const require = __karapaceRequire(import.meta.url);" },
});
chmodSync(`${outdir}/karapace.js`, 0o755);
