/**
 * The plugin API proof: a third-party plugin package, written outside the repository and
 * named in .karapacerc.json, adds a backend "echo" through the kernel's hooks.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../helpers/cli.js';

const PLUGIN = `
const NAME = 'karapace-plugin-echo';
export default {
  name: NAME,
  apply(kernel, options) {
    const prefix = options.prefix ?? 'echo';
    kernel.hooks.mount.tapPromise(NAME, async (request) =>
      request.backend === 'echo' ? { backend: 'echo', data: { env: request.env.envId } } : undefined);
    kernel.hooks.spawn.tapPromise(NAME, async (request) => {
      if (request.backend !== 'echo') return undefined;
      const line = prefix + '[' + request.mount.data.env.slice(0, 12) + ']: ' + request.argv.join(' ') + '\\n';
      if (request.stdio === 'capture') return { exitCode: 0, stdout: line, stderr: '' };
      process.stdout.write(line);
      const last = Number(request.argv[request.argv.length - 1]);
      return { exitCode: Number.isInteger(last) ? last : 0 };
    });
  },
};
`;

test('a plugin package outside the repo adds an "echo" backend that builds and execs', async (t) => {
  const box = sandbox('kp-plugin-proof-');
  const pkg = join(box.dir, 'project', 'node_modules', 'karapace-plugin-echo');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'karapace-plugin-echo', version: '1.0.0', type: 'module', main: 'index.js' }));
  writeFileSync(join(pkg, 'index.js'), PLUGIN);
  box.write('project/package.json', JSON.stringify({ name: 'project', private: true }));
  box.write('project/.karapacerc.json', JSON.stringify({ plugins: [['karapace-plugin-echo', { prefix: 'ECHO' }]] }));
  box.write('project/karapace.toml', mockManifest({ packages: ['git'], backend: 'echo' }));
  const cwd = join(box.dir, 'project');

  const built = await box.json(['build', '--name', 'e'], { cwd });
  t.is(built.backend, 'echo');
  const r = await box.run(['exec', 'e', '--', 'hello', 'world', '3'], { cwd });
  t.is(r.stdout, `ECHO[${built.short_id}]: hello world 3\n`);
  t.is(r.code, 3);

  // The same manifest with the mock backend has another identity.
  box.write('mock/karapace.toml', mockManifest({ packages: ['git'], backend: 'mock' }));
  const mock = await box.json(['build', 'mock']);
  t.not(mock.env_id, built.env_id);
});

test('a backend no plugin provides is a clear error naming the backend', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest({ backend: 'nosuch' }));
  const r = await box.run(['build']);
  t.is(r.code, 1);
  t.regex(r.stderr, /no plugin provides the backend "nosuch"/);
  t.deepEqual((await box.json(['list'])).environments, []);
});

test('a missing or throwing plugin named in config is an error naming it', async (t) => {
  const box = sandbox();
  box.write('package.json', '{}');
  box.write('karapace.toml', mockManifest());
  box.write('.karapacerc.json', JSON.stringify({ plugins: ['karapace-plugin-not-installed'] }));
  const missing = await box.run(['list']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /plugin "karapace-plugin-not-installed" was not found/);
  t.regex(missing.stderr, /hint: install it/);
  box.write('thrower.mjs', 'export default { name: "thrower", apply() { throw new Error("cannot start"); } };\n');
  box.write('.karapacerc.json', JSON.stringify({ plugins: ['./thrower.mjs'] }));
  const thrower = await box.run(['list', '--json']);
  t.is(thrower.code, 1);
  const err = JSON.parse(thrower.stderr.trim());
  t.is(err.error.code, 'KP_PLUGIN_APPLY_FAILED');
  t.regex(err.error.message, /plugin "thrower" threw while loading: cannot start/);
});
