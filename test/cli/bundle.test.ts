/** The bundled CLI (what users run) builds and execs like the unbundled one the suite uses. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, mockManifest, sandbox } from '../helpers/cli.js';

const BUNDLE = join(REPO, 'cli/dist/bundle/karapace.js');

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
  box.write('preset.json', JSON.stringify({ defaultBackend: 'mock' }));
  box.write('plugin.mjs', 'export default { name: "p", apply(k) { k.hooks.progress.tap("p", () => {}); } };\n');
  box.write('.karapacerc.json', JSON.stringify({ extends: './preset.json', plugins: ['./plugin.mjs'] }));
  box.write('karapace.toml', 'manifest_version = 1\n[base]\nimage = "mock:cfg"\n');
  const built = spawnSync(BUNDLE, ['build', '--json'], { cwd: box.dir, env: box.env, encoding: 'utf8' });
  t.is(built.status, 0, built.stderr);
  t.is(JSON.parse(built.stdout).backend, 'mock');
  const exec = spawnSync(BUNDLE, ['exec', JSON.parse(built.stdout).short_id, '--', 'true'], { cwd: box.dir, env: box.env, encoding: 'utf8' });
  t.is(exec.status, 0, exec.stderr);
});
