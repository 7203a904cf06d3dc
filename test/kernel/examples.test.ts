/** The example manifests (the seed's five, by name, plus ours) parse, and their image aliases resolve to a known OS. */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readManifestFile } from '@karapace/kernel';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

test('every examples/*.toml is a valid manifest; the seed\'s names are all there', (t) => {
  const files = readdirSync(examples).filter((f) => f.endsWith('.toml')).sort();
  t.deepEqual(files, ['dev.toml', 'gui-dev.toml', 'minimal.toml', 'rust-dev.toml', 'ubuntu-dev.toml']);
  for (const f of files) {
    const m = readManifestFile(join(examples, f));
    t.is(m.runtime.backend, 'namespace', f);
    t.true(['rolling', 'ubuntu/24.04'].includes(m.base.image), f);
  }
  const gui = readManifestFile(join(examples, 'gui-dev.toml'));
  t.deepEqual(gui.gui.apps, ['firefox']);
  t.true(gui.system.packages.includes('firefox'), 'an exported app is installed');
  t.deepEqual(readManifestFile(join(examples, 'dev.toml')).mounts.map((m) => [m.label, m.host, m.container]), [['workspace', '~/projects', '/workspace']]);
});
