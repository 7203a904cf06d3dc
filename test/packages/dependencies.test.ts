/**
 * Each workspace package installs on its own from its tarball, so what its built files load
 * by name must be what its package.json declares (dependencies or peerDependencies), and
 * nothing declared may go unused. The CLI's bundle carries the kernel and the built-in
 * plugins, so the modules they load lazily (createRequire) are the CLI's dependencies too.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { REPO } from '../helpers/cli.js';
import { packageSpecifiers, workspacePackages } from './scan.js';

const BUILTINS = new Set(builtinModules);

for (const pkg of workspacePackages()) {
  test(`${pkg.name}: declared dependencies are exactly what its built files load`, (t) => {
    const loaded = new Map<string, string>();
    for (const [spec, file] of packageSpecifiers(pkg.dir)) {
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (spec.startsWith('node:') || BUILTINS.has(name) || name === pkg.name) continue;
      if (!loaded.has(name)) loaded.set(name, file);
    }
    const declared = new Set([...Object.keys(pkg.json.dependencies ?? {}), ...Object.keys(pkg.json.peerDependencies ?? {})]);
    const undeclared = [...loaded].filter(([name]) => !declared.has(name)).map(([name, file]) => `${name} (loaded by ${file})`);
    const unused = [...declared].filter((name) => !loaded.has(name));
    t.deepEqual(undeclared, [], `${pkg.name} loads modules its package.json does not declare`);
    t.deepEqual(unused, [], `${pkg.name} declares dependencies none of its files load`);
  });
}

test('the example third-party plugin loads nothing from the kernel package, and the example preset brings it', (t) => {
  const plugin = join(REPO, 'examples/plugins/karapace-backend-unshare');
  // What it ships (package.json "files"); its test.js imports the test kit, a dev dependency.
  const shipped = (JSON.parse(readFileSync(join(plugin, 'package.json'), 'utf8')) as { files: string[] }).files;
  const loaded = [...packageSpecifiers(plugin)].filter(([, file]) => shipped.some((f) => file.endsWith(`/${f}`))).map(([spec]) => spec);
  t.true(loaded.length > 0, 'the scanner read the plugin');
  t.deepEqual(loaded.filter((spec) => !spec.startsWith('node:')), [], 'only node: built-ins');
  const preset = JSON.parse(readFileSync(join(REPO, 'examples/plugins/acme-preset/package.json'), 'utf8'));
  t.deepEqual(Object.keys(preset.dependencies), ['karapace-backend-unshare']);
});

test('the scanner sees every way a module is loaded (it would otherwise pass vacuously)', (t) => {
  const specs = [...packageSpecifiers(join(REPO, 'cli'))].map(([s]) => s);
  // A static import, a dynamic import, a createRequire()d module and a resolved package file.
  for (const expected of ['clipanion', '@karapace/image-sources', '@napi-rs/blake-hash', '@karapace/native/package.json']) {
    t.true(specs.includes(expected), expected);
  }
  t.true(workspacePackages().length >= 10);
  t.true(statSync(join(REPO, 'cli/dist/bundle/karapace.js')).isFile());
  t.true(readdirSync(join(REPO, 'kernel/dist')).length > 0, 'build the packages first (npm run build)');
  t.regex(readFileSync(join(REPO, 'native/package.json'), 'utf8'), /"@karapace\/native"/);
});
