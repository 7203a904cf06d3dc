import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sandbox } from '../helpers/cli.js';

test('new writes a manifest from each built-in template that build then accepts', async (t) => {
  const box = sandbox('kp-new-');
  const list = await box.json(['new', '--list']);
  t.deepEqual(list.templates.map((x: { name: string }) => x.name), ['minimal', 'dev', 'gui-dev', 'rust-dev', 'ubuntu-dev']);
  for (const name of ['minimal', 'dev', 'gui-dev', 'rust-dev', 'ubuntu-dev']) {
    const r = await box.json(['new', `p-${name}`, '--template', name]);
    t.is(r.template, name);
    t.true(readFileSync(r.manifest_path, 'utf8').includes('manifest_version = 1'));
  }
  t.regex(readFileSync(join(box.dir, 'p-ubuntu-dev/karapace.toml'), 'utf8'), /image = "ubuntu\/24.04"/);
  t.regex(readFileSync(join(box.dir, 'p-gui-dev/karapace.toml'), 'utf8'), /apps = \["gedit"\]/);
  // Customised to the mock backend, it builds.
  const r = await box.json(['new', 'mocked', '--template', 'dev', '--image', 'mock:new', '--packages', 'git,curl']);
  const text = readFileSync(r.manifest_path, 'utf8').replace('[mounts]', '[runtime]\nbackend = "mock"\n[mounts]');
  box.write('mocked/karapace.toml', text);
  // The template mounts the project; the mock backend mounts nothing, but may claim to.
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['mounts'] } }));
  const built = await box.json(['build', 'mocked']);
  t.deepEqual(built.packages.map((p: { name: string }) => p.name), ['curl', 'git']);
});

test('new refuses to overwrite without --force, and config templates are offered', async (t) => {
  const box = sandbox('kp-new-');
  box.write('.karapacerc.json', JSON.stringify({ templates: { team: 'manifest_version = 1\n[base]\nimage = "mock:team"\n[runtime]\nbackend = "mock"\n' } }));
  const first = await box.json(['new', 'svc', '--template', 'team']);
  t.false(first.overwritten);
  const again = await box.run(['new', 'svc', '--template', 'minimal']);
  t.is(again.code, 2);
  t.regex(again.stderr, /already exists/);
  t.regex(readFileSync(first.manifest_path, 'utf8'), /mock:team/);
  const forced = await box.json(['new', 'svc', '--template', 'minimal', '--force']);
  t.true(forced.overwritten);
  t.regex(readFileSync(first.manifest_path, 'utf8'), /debian\/bookworm/);
  const unknown = await box.run(['new', 'x', '--template', 'nope']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /pick one of: minimal, dev, gui-dev, rust-dev, ubuntu-dev, team/);
  box.write('.karapacerc.json', JSON.stringify({ templates: { broken: 'manifest_version = 1\n[base]\nimag = "x"\n' } }));
  const broken = await box.run(['new', 'y', '--template', 'broken']);
  t.is(broken.code, 2);
  t.regex(broken.stderr, /base\.imag/);
});
