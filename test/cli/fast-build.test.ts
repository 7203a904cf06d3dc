/**
 * A build with work to do, run through the executable (cli/dist/bundle/karapace.cjs), takes
 * the start-up fast path (bundle/build.cjs: backends and image sources only) and prints
 * exactly what the full CLI (cli/dist/bin.js) prints; anything unusual goes to the full CLI.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import FastDispatch from '../../cli/dist/fast-dispatch.cjs';
import { runBundled, sandbox, type Sandbox } from '../helpers/cli.js';

const bundled = (box: Sandbox, args: string[], cwd = box.dir) => runBundled(box, args, { cwd });

/** A project whose base is a small local rootfs tarball (the image-sources plugin's job). */
function project(box: Sandbox): string {
  const root = join(box.dir, 'rootfs');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'etc/os-release'), 'ID=test\n');
  writeFileSync(join(root, 'bin/tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  box.write('proj/karapace.toml', 'manifest_version = 1\n[base]\nimage = "./rootfs.tar"\n[runtime]\nbackend = "mock"\n');
  const tar = spawnSync('tar', ['--sort=name', '--owner=0', '--group=0', '--mtime=@0', '-cf', join(box.dir, 'proj/rootfs.tar'), '-C', root, '.'], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
  return join(box.dir, 'proj');
}

/** Two sandboxes print their own paths; nothing else may differ. */
const portable = (box: Sandbox, s: string) => s.replaceAll(box.dir, '<box>').replace(/in \d+(\.\d+)? ?m?s/g, 'in N s');
const opts = { json: false, verbose: false, trace: false };

test('builds are parsed by the dispatcher; anything unusual is left to the full parser', (t) => {
  const { dispatch } = FastDispatch;
  t.deepEqual(dispatch(['build']), { command: 'build', global: opts, options: {}, positionals: {}, rest: [] });
  t.deepEqual(dispatch(['build', 'dir/karapace.toml', '--name', 'dev', '--locked', '--offline', '--require-pinned-image', '--json', '--store=/s']), {
    command: 'build', global: { ...opts, json: true, store: '/s' }, options: { name: 'dev', locked: true, offline: true, requirePinnedImage: true }, positionals: { manifest: 'dir/karapace.toml' }, rest: [],
  });
  t.is(dispatch(['build', '--name=x', '-v'])!.options.name, 'x');
  for (const args of [['build', '--help'], ['build', '-h'], ['build', 'a', 'b'], ['build', '--name'], ['build', '--name', '--json'],
    ['build', '--name', 'a', '--name', 'b'], ['build', '--locked', '--locked'], ['build', '--unknown'], ['build', '--'], ['build', '--locked=yes']]) {
    t.is(dispatch(args), undefined, args.join(' '));
  }
});

test('a cold build takes the fast path, loads no remote plugin, and prints what the full CLI prints', async (t) => {
  const fast = sandbox('kp-fast-build-');
  const full = sandbox('kp-full-build-');
  t.teardown(() => [fast, full].forEach((b) => rmSync(b.dir, { recursive: true, force: true })));
  const fastProj = project(fast);
  const fullProj = project(full);
  const a = await bundled(fast, ['build', '--name', 'fb', '--json', '-v'], fastProj);
  const b = await full.run(['build', '--name', 'fb', '--json', '-v'], { cwd: fullProj });
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
  t.is(portable(fast, a.stdout), portable(full, b.stdout));
  t.false(JSON.parse(a.stdout).cached);
  // No karapace.lock yet: nothing to answer from the lock, so exec.cjs (the warm path) was
  // never loaded (no code cache of its own); build.cjs was.
  const caches = () => readdirSync(join(fast.dir, 'cache', 'karapace')).map((n) => n.split('-')[0]).sort();
  t.deepEqual(caches(), ['build']);
  const plugins = /plugins: (.*)$/m.exec(a.stderr)?.[1] ?? '';
  t.regex(plugins, /image-sources/);
  t.notRegex(plugins, /remote-/, 'a build loads no remote plugin');
  // The environment works: the full CLI sees it, and the next build is answered from the lock.
  const listed = await fast.json(['list']);
  t.true(JSON.stringify(listed).includes('"fb"'));
  const again = await bundled(fast, ['build', '--json'], fastProj);
  t.true(JSON.parse(again.stdout).cached);
  t.deepEqual(caches(), ['build', 'exec'], 'with a lock, the warm path answers');
  // Without --json: the same text.
  const c = await bundled(fast, ['build', '--name', 'fb2', '--store', join(fast.dir, 'store2')], fastProj);
  const d = await full.run(['build', '--name', 'fb2', '--store', join(full.dir, 'store2')], { cwd: fullProj });
  t.is(c.code, 0, c.stderr);
  t.is(portable(fast, c.stdout), portable(full, d.stdout));
  t.is(portable(fast, c.stderr), portable(full, d.stderr));
});

test('errors read the same through the fast path; help and unknown flags go to the full CLI', async (t) => {
  const fast = sandbox('kp-fast-build-err-');
  const full = sandbox('kp-full-build-err-');
  t.teardown(() => [fast, full].forEach((b) => rmSync(b.dir, { recursive: true, force: true })));
  const same = async (args: string[], manifest: string) => {
    fast.write('proj/karapace.toml', manifest);
    full.write('proj/karapace.toml', manifest);
    const a = await bundled(fast, args, join(fast.dir, 'proj'));
    const b = await full.run(args, { cwd: join(full.dir, 'proj') });
    t.is(a.code, b.code, args.join(' '));
    t.is(portable(fast, a.stdout), portable(full, b.stdout), args.join(' '));
    t.is(portable(fast, a.stderr), portable(full, b.stderr), args.join(' '));
    return a;
  };
  const missing = await same(['build'], 'manifest_version = 1\n[base]\nimage = "./nothing.tar"\n[runtime]\nbackend = "mock"\n');
  t.is(missing.code, 1);
  t.regex(missing.stderr, /does not exist/);
  const json = await same(['build', '--json'], 'manifest_version = 1\n[base]\nimage = "./nothing.tar"\n[runtime]\nbackend = "mock"\n');
  t.regex(json.stdout + json.stderr, /"code": ?"KP_/);
  const bad = await same(['build'], 'manifest_version = 1\n[base]\nimage = 42\n');
  t.is(bad.code, 2);
  t.regex((await same(['build', '--help'], 'manifest_version = 1\n')).stdout, /Build an environment from a manifest/);
  t.is((await same(['build', '--bogus'], 'manifest_version = 1\n')).code, 2, 'a usage error');
});
