import test from 'ava';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, mergeConfig, ManifestError } from '@karapace/kernel';

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kp-config-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  return dir;
}

test('merge: objects merge deeply, scalars and arrays are replaced, plugins concatenate by name', (t) => {
  const merged = mergeConfig(
    { store: '/a', images: { server: 'http://a', aliases: { x: 'y' } }, security: { envAllow: ['A'] }, plugins: ['p1', ['p2', { v: 1 }]] },
    { images: { server: 'http://b' }, security: { envAllow: ['B'] }, plugins: [['p2', { v: 2 }], 'p3'] },
  );
  t.deepEqual(merged, {
    store: '/a',
    images: { server: 'http://b', aliases: { x: 'y' } },
    security: { envAllow: ['B'] },
    plugins: ['p1', ['p2', { v: 2 }], 'p3'],
  });
});

test('project file is found from a subdirectory; user-global file is merged under it', async (t) => {
  const dir = tree({
    'global/karapace/config.json': JSON.stringify({ defaultBackend: 'oci', store: '/global-store' }),
    'proj/package.json': '{}',
    'proj/.karapacerc.json': JSON.stringify({ store: '/project-store' }),
    'proj/sub/deeper/.keep': '',
  });
  const loaded = await loadConfig({ cwd: join(dir, 'proj/sub/deeper'), globalDir: join(dir, 'global/karapace') });
  t.is(loaded.config.store, '/project-store');
  t.is(loaded.config.defaultBackend, 'oci');
  t.deepEqual(loaded.sources, [join(dir, 'global/karapace/config.json'), join(dir, 'proj/.karapacerc.json')]);
});

test('extends: presets (path and npm package) merge depth-first before the file, in listed order', async (t) => {
  const dir = tree({
    'proj/package.json': JSON.stringify({ name: 'proj', karapace: { extends: ['./presets/base.json', '@org/karapace-preset'], store: '/mine' } }),
    'proj/presets/base.json': JSON.stringify({ extends: './root.json', defaultBackend: 'namespace', images: { server: 'http://base' } }),
    'proj/presets/root.json': JSON.stringify({ defaultBackend: 'oci', store: '/root', defaultRemote: 'origin' }),
    'proj/node_modules/@org/karapace-preset/package.json': JSON.stringify({ name: '@org/karapace-preset', main: 'preset.json' }),
    'proj/node_modules/@org/karapace-preset/preset.json': JSON.stringify({ defaultBackend: 'mock', images: { aliases: { dev: 'debian/bookworm' } } }),
  });
  const loaded = await loadConfig({ cwd: join(dir, 'proj'), globalDir: join(dir, 'none') });
  t.is(loaded.config.defaultBackend, 'mock');
  t.is(loaded.config.store, '/mine');
  t.is(loaded.config.defaultRemote, 'origin');
  t.deepEqual(loaded.config.images, { server: 'http://base', aliases: { dev: 'debian/bookworm' } });
  t.deepEqual(loaded.sources.map((s) => s.slice(dir.length)), [
    '/proj/presets/root.json', '/proj/presets/base.json', '/proj/node_modules/@org/karapace-preset/preset.json', '/proj/package.json',
  ]);
  t.false('extends' in loaded.config);
});

test('relative plugin paths resolve against the file that names them', async (t) => {
  const dir = tree({
    'proj/package.json': '{}',
    'proj/.karapacerc.json': JSON.stringify({ extends: './org/preset.json', plugins: ['./local-plugin.mjs'] }),
    'proj/org/preset.json': JSON.stringify({ plugins: [['./org-plugin.mjs', { level: 2 }]] }),
  });
  const loaded = await loadConfig({ cwd: join(dir, 'proj'), globalDir: join(dir, 'none') });
  t.deepEqual(loaded.config.plugins, [[join(dir, 'proj/org/org-plugin.mjs'), { level: 2 }], join(dir, 'proj/local-plugin.mjs')]);
});

test('missing presets, cycles and broken files are clear errors', async (t) => {
  const missing = tree({ 'package.json': '{}', '.karapacerc.json': JSON.stringify({ extends: 'no-such-preset-pkg' }) });
  const e1 = await t.throwsAsync(loadConfig({ cwd: missing, globalDir: join(missing, 'g') }), { instanceOf: ManifestError });
  t.is(e1!.code, 'KP_CONFIG_PRESET_NOT_FOUND');
  const cycle = tree({ 'package.json': '{}', '.karapacerc.json': JSON.stringify({ extends: './a.json' }), 'a.json': JSON.stringify({ extends: './b.json' }), 'b.json': JSON.stringify({ extends: './a.json' }) });
  const e2 = await t.throwsAsync(loadConfig({ cwd: cycle, globalDir: join(cycle, 'g') }), { instanceOf: ManifestError });
  t.is(e2!.code, 'KP_CONFIG_EXTENDS_CYCLE');
  const broken = tree({ 'package.json': '{}', '.karapacerc.json': '{ nope' });
  const e3 = await t.throwsAsync(loadConfig({ cwd: broken, globalDir: join(broken, 'g') }), { instanceOf: ManifestError });
  t.is(e3!.code, 'KP_CONFIG_UNREADABLE');
  t.is(e3!.exitCode, 2);
});

test('no config at all gives an empty config', async (t) => {
  const dir = tree({ 'package.json': '{}' });
  const loaded = await loadConfig({ cwd: dir, globalDir: join(dir, 'g') });
  t.deepEqual(loaded.config, {});
  t.deepEqual(loaded.sources, []);
});
