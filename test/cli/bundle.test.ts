/** The bundled CLI (what users run) builds and execs like the unbundled one the suite uses. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, mockManifest, runBundled, sandbox } from '../helpers/cli.js';

const BUNDLE = join(REPO, 'cli/dist/bundle/karapace.cjs');

test('the bundled karapace builds, lists and execs', (t) => {
  t.true(existsSync(BUNDLE), 'run `npm run build` to produce the bundle');
  const box = sandbox();
  box.write('karapace.toml', mockManifest({ packages: ['git'] }));
  const run = (...args: string[]) => spawnSync(BUNDLE, args, { cwd: box.dir, env: box.env, encoding: 'utf8' });
  const built = run('build', '--json', '--name', 'b');
  t.is(built.status, 0, built.stderr);
  t.is(JSON.parse(built.stdout).packages[0].name, 'git');
  const list = run('list', '--json');
  t.is(JSON.parse(list.stdout).environments[0].name, 'b');
  const exec = run('exec', 'b', '--', 'sh', '-c', 'cat var/lib/karapace-mock/packages/git; exit 5');
  t.is(exec.status, 5);
  t.regex(exec.stdout, /^git \S+-mock\n$/);
});

test('the bundled karapace loads config files, presets and third-party plugins', (t) => {
  const box = sandbox();
  box.write('package.json', '{}');
  // The preset picks the backend; the plugin provides it (through the host's kernel.api) and answers exec.
  box.write('preset.json', JSON.stringify({ defaultBackend: 'viaplugin' }));
  box.write('plugin.mjs', `export default { name: "p", apply(k) { k.registerBackend({ name: "viaplugin",
    async mount() { return { backend: "viaplugin", data: {} }; },
    async spawn(r) { if (r.stdio === "capture") return { exitCode: 0, stdout: "", stderr: "" };
      process.stdout.write("plugin ran " + r.argv.join(" ") + " (kernel API " + k.api.version + ")\\n"); return { exitCode: 7 }; } }); } };\n`);
  box.write('.karapacerc.json', JSON.stringify({ extends: './preset.json', plugins: ['./plugin.mjs'] }));
  box.write('karapace.toml', 'manifest_version = 1\n[base]\nimage = "mock:cfg"\n');
  const built = spawnSync(BUNDLE, ['build', '--json'], { cwd: box.dir, env: box.env, encoding: 'utf8' });
  t.is(built.status, 0, built.stderr);
  t.is(JSON.parse(built.stdout).backend, 'viaplugin');
  const exec = spawnSync(BUNDLE, ['exec', JSON.parse(built.stdout).short_id, '--', 'hello'], { cwd: box.dir, env: box.env, encoding: 'utf8' });
  t.is(exec.status, 7, exec.stderr);
  t.is(exec.stdout, 'plugin ran hello (kernel API 1.8.0)\n');
});

test('exec through the executable writes a V8 code cache, reuses it, and survives a corrupt one', (t) => {
  const box = sandbox();
  const cacheHome = join(box.dir, 'cache');
  const env = { ...box.env, XDG_CACHE_HOME: cacheHome };
  box.write('karapace.toml', mockManifest());
  const run = (...args: string[]) => spawnSync(BUNDLE, args, { cwd: box.dir, env, encoding: 'utf8' });
  t.is(run('build', '--name', 'c').status, 0);
  const first = run('exec', 'c', '--', 'sh', '-c', 'echo one; exit 6');
  t.is(first.status, 6);
  t.is(first.stdout, 'one\n');
  // exec's own cache (the cold build above wrote build.cjs's too): exec-<install>-<size>-<mtime>.
  const written = readdirSync(join(cacheHome, 'karapace')).filter((f) => f.startsWith('exec-') && f.endsWith('.v8cache'));
  t.is(written.length, 1);
  const install = written[0]!.split('-')[1]!;
  // When the current cache is written: this install's earlier build of the bundle goes,
  // another install's cache stays (a global and a local CLI used in turn), unless unused for long.
  const cacheDir = join(cacheHome, 'karapace');
  writeFileSync(join(cacheDir, `exec-${install}-old-build.v8cache`), 'stale');
  writeFileSync(join(cacheDir, 'exec-otherinstall-1-2.v8cache'), 'another install');
  writeFileSync(join(cacheDir, 'exec-goneinstall-1-2.v8cache'), 'an install gone');
  const longAgo = new Date(Date.now() - 40 * 24 * 3600 * 1000);
  utimesSync(join(cacheDir, 'exec-goneinstall-1-2.v8cache'), longAgo, longAgo);
  writeFileSync(join(cacheDir, 'unrelated'), 'keep');
  rmSync(join(cacheDir, written[0]!));
  t.is(run('exec', 'c', '--', 'true').status, 0);
  const caches = readdirSync(cacheDir).filter((f) => f.startsWith(`exec-${install}-`) && f.endsWith('.v8cache'));
  t.deepEqual(caches, [written[0]!]);
  t.true(existsSync(join(cacheDir, 'exec-otherinstall-1-2.v8cache')));
  t.false(existsSync(join(cacheDir, 'exec-goneinstall-1-2.v8cache')));
  t.true(existsSync(join(cacheDir, 'unrelated')));
  t.true(statSync(join(cacheHome, 'karapace', caches[0]!)).size > 1000);
  t.is(run('exec', 'c', '--', 'true').status, 0);
  writeFileSync(join(cacheHome, 'karapace', caches[0]!), 'garbage');
  const afterCorrupt = run('exec', 'c', '--', 'sh', '-c', 'echo two');
  t.is(afterCorrupt.status, 0, afterCorrupt.stderr);
  t.is(afterCorrupt.stdout, 'two\n');
  t.true(statSync(join(cacheHome, 'karapace', caches[0]!)).size > 1000, 'a rejected cache is rewritten');
  // Anything but exec goes to the full CLI.
  t.is(run('exec', '--help').status, 0);
  t.is(run('frobnicate').status, 2);
});

test('error documents (--json) from the bundled fast paths name the same error classes as the full CLI', async (t) => {
  const box = sandbox();
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  for (const args of [['exec', '--json', 'nope', '--', 'true'], ['build', '--json', join(box.dir, 'missing', 'karapace.toml')]]) {
    const fast = await runBundled(box, args);
    const full = await box.run(args);
    t.is(fast.code, full.code, args.join(' '));
    const doc = JSON.parse(fast.stdout || fast.stderr);
    t.deepEqual(doc, JSON.parse(full.stdout || full.stderr), args.join(' '));
    t.regex(doc.error.name, /^[A-Z][a-z]+[A-Za-z]*Error$/, 'a real class name');
  }
});
