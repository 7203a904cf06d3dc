// Bundles the CLI with esbuild into cli/dist/bundle/:
//   karapace.js + chunks  the full CLI (ES modules, lazily loaded chunks)
//   exec.cjs              only what `exec` needs, as CommonJS so karapace.cjs can load it
//                         with a V8 code cache (Node 20 has no code cache for ES modules)
//   remote.cjs            the same for push/pull to a karapace-server (cli/src/fast-remote.ts)
//   build.cjs             the same for a build with work to do (cli/src/fast-build.ts)
//   snapshot.cjs          the same for commit and restore (cli/src/fast-snapshot.ts)
//   list.cjs              `list` from the index alone (cli/src/fast-list.ts), before exec.cjs
//   karapace.cjs          the executable: exec through exec.cjs, push/pull through remote.cjs,
//                         commit/restore through snapshot.cjs,
//                         build through exec.cjs then build.cjs, everything else karapace.js
//   karapace-server.js    the remote store server (plugins/remote-http/src/server/bin.ts)
//   mapped-worker.js      store work inside an env's id mapping (kernel/src/mapped)
//   tree-tar-worker.js    a large tree's tar made on a worker thread for restore (kernel/src/store)
//   pack-tree-worker.js   a large directory packed on a worker thread for commit (kernel/src/layers)
// Start-up is dominated by loading and compiling code; see bench/RESULTS.md.
import { build } from 'esbuild';
import { chmodSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const outdir = 'cli/dist/bundle';

/** Newest modification time under `dir` (0 when it does not exist), skipping `skip`. */
function newest(dir, skip) {
  let max = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (p === skip) continue;
    max = Math.max(max, e.isDirectory() ? newest(p, skip) : statSync(p).mtimeMs);
  }
  return max;
}

// --if-stale (npm pack's prepack): bundle only when a compiled input is newer than the
// bundle, so packing a built tree never rewrites a bundle that running processes load.
if (process.argv.includes('--if-stale')) {
  let built = 0;
  try {
    built = statSync(join(outdir, 'karapace.cjs')).mtimeMs;
  } catch {}
  const dists = ['cli/dist', 'kernel/dist', ...readdirSync('plugins').map((p) => join('plugins', p, 'dist'))];
  if (built > 0 && dists.every((d) => newest(d, outdir) <= built)) process.exit(0);
}
// Prebuilt native modules load their platform binary by name at run time.
const external = ['@napi-rs/*', 'dbus-next', 'typescript'];
rmSync(outdir, { recursive: true, force: true });

await build({
  // mapped-worker: run by backends inside an env's id mapping; found next to the kernel's chunk.
  // karapace-server: the remote server ships with the CLI package, sharing its chunks.
  // tree-tar-worker: a large tree's tar for restore, made on another thread; found the same way.
  // pack-tree-worker: a large directory's tar for commit, made on another thread; the same.
  entryPoints: { karapace: 'cli/dist/bin.js', 'karapace-server': 'plugins/remote-http/dist/server/bin.js', 'mapped-worker': 'kernel/dist/mapped/mapped-worker.js', 'tree-tar-worker': 'kernel/dist/store/tree-tar-worker.js', 'pack-tree-worker': 'kernel/dist/layers/pack-tree-worker.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  external,
  // CommonJS dependencies call require(); give ESM chunks a real one.
  banner: { js: "import { createRequire as __karapaceRequire } from 'node:module'; const require = __karapaceRequire(import.meta.url);" },
});

/**
 * Node's own modules a fast path may never touch, loaded on first use instead of when the
 * bundle starts: child_process alone (with net, stream and dgram under it) costs exec more
 * than its whole work. Each becomes a proxy that requires the real module when one of its
 * exports is first read (esbuild's CommonJS interop reads them at call time).
 */
const LAZY_BUILTINS = ['child_process', 'crypto', 'dgram', 'fs/promises', 'http', 'https', 'net', 'os', 'readline', 'stream', 'stream/promises', 'worker_threads', 'zlib'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.map((m) => m.replace('/', '\\/')).join('|')})$`);
    // The getters' own require() is of the real module.
    b.onResolve({ filter }, (args) => (args.namespace === 'lazy-builtin' ? { path: args.path, external: true } : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async (args) => {
      // A proxy, not a getter per export: esbuild's interop (__toESM) copies every own key of a
      // CommonJS module into each importer's namespace object, a getter each, when the bundle
      // starts — ~1,000 defineProperty calls for these modules. This one has no own keys; the
      // namespace object inherits from `lazy` (the proxy's prototype), whose reads load it.
      return {
        loader: 'js',
        contents: [
          `let m; const load = () => (m ??= require(${JSON.stringify(`node:${args.path}`)}));`,
          'const lazy = new Proxy(Object.create(null), { get: (_, k) => load()[k] });',
          "module.exports = new Proxy({}, { get: (_, k) => (k === '__esModule' ? undefined : load()[k]), ownKeys: () => [], getPrototypeOf: () => lazy });",
        ].join('\n'),
      };
    });
  },
};

/** A CommonJS fast-path bundle, loaded by karapace.cjs with a V8 code cache (Node 20 has none for ES modules). */
function fastBundle(entry, name, extra = {}) {
  return build({
    entryPoints: [entry],
    outfile: `${outdir}/${name}.cjs`,
    // Smaller source and code cache to read on every run; these are loaded, never debugged
    // (KP_BUNDLE_READABLE=1 keeps names and lines for a profiler).
    minify: !process.env.KP_BUNDLE_READABLE,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    external,
    plugins: [lazyBuiltins],
    // The kernel resolves files and packages relative to import.meta.url.
    define: { 'import.meta.url': '__karapaceImportMetaUrl' },
    banner: { js: "const __karapaceImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    ...extra,
  });
}

// Error documents (--json) carry class names: kernel/src/errors.ts names its classes
// explicitly, so the minified bundles need not keep every function's name (keepNames costs
// start-up time in defineProperty calls).
// The kernel as exec uses it (kernel/src/runtime.ts): the bundle starts none of the build,
// layer, tar and remote code.
const kernelRuntime = {
  name: 'kernel-runtime',
  setup(b) {
    b.onResolve({ filter: /^@karapace\/kernel$/ }, () => ({ path: join(process.cwd(), 'kernel/dist/runtime.js') }));
  },
};
await fastBundle('cli/dist/exec-entry.js', 'exec', { plugins: [lazyBuiltins, kernelRuntime] });
// push/pull to a karapace-server (only the HTTP remote plugin).
await fastBundle('cli/dist/remote-entry.js', 'remote');
// A build with work to do (backends + image sources; a warm build is answered by exec.cjs first).
await fastBundle('cli/dist/build-entry.js', 'build');
// commit and restore (only the backends).
await fastBundle('cli/dist/snapshot-entry.js', 'snapshot');
// `list` from the index alone (no engine, no plugin); exec.cjs answers when a backend must be asked.
await fastBundle('cli/dist/list-entry.js', 'list');

// The executable with its dispatcher (fast-dispatch.cjs) inlined: one file to read at start-up.
await build({ entryPoints: ['cli/dist/karapace.cjs'], outfile: `${outdir}/karapace.cjs`, bundle: true, format: 'cjs', platform: 'node', target: 'node20', logLevel: 'warning' });
chmodSync(`${outdir}/karapace.cjs`, 0o755);
chmodSync(`${outdir}/karapace.js`, 0o755);
chmodSync(`${outdir}/karapace-server.js`, 0o755);
