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

/** Writes a plugin package (package.json + index.js) under the sandbox's project node_modules. */
function pluginPackage(box: ReturnType<typeof sandbox>, name: string, source: string, pkg: Record<string, unknown> = {}): void {
  box.write(`project/node_modules/${name}/package.json`, JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'index.js', ...pkg }));
  box.write(`project/node_modules/${name}/index.js`, source);
}

const API_PLUGIN = `
export default {
  name: 'acme-backend',
  apply(kernel) {
    const { errors, version, stages, capabilities } = kernel.api;
    kernel.registerBackend({
      name: 'acme',
      capabilities: { mounts: true, tty: true },
      async mount(request) { return { backend: 'acme', data: {} }; },
      async spawn(request) {
        if (request.argv[0] === 'fail') throw new errors.RuntimeFailure('ACME_NOPE', 'acme says no', { hint: 'ask acme' });
        const line = [version, stages.beforeBuiltins, capabilities.join(',')].join(' ') + '\\n';
        return request.stdio === 'capture' ? { exitCode: 0, stdout: line, stderr: '' } : (process.stdout.write(line), { exitCode: 0 });
      },
    });
  },
};
`;

test('a plugin package with no kernel import works through kernel.api; its own typed error keeps its code and names the plugin and hook', async (t) => {
  const box = sandbox('kp-plugin-api-');
  pluginPackage(box, 'karapace-plugin-acme', API_PLUGIN, { engines: { karapace: '^1' } });
  box.write('project/package.json', '{"name":"project","private":true}');
  box.write('project/.karapacerc.json', JSON.stringify({ plugins: ['karapace-plugin-acme'] }));
  box.write('project/karapace.toml', mockManifest({ backend: 'acme' }));
  const cwd = join(box.dir, 'project');
  await box.json(['build', '--name', 'a'], { cwd });
  const ok = await box.run(['exec', 'a', '--', 'hello'], { cwd });
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout, '1.8.0 -10 readOnlyRoot,mounts,networkIsolation,resourceLimits,devices,tty,envHome,lowerLayers\n');
  const failed = await box.run(['exec', 'a', '--json', '--', 'fail'], { cwd });
  t.is(failed.code, 1);
  const err = JSON.parse(failed.stderr.trim()).error;
  t.is(err.code, 'ACME_NOPE');
  t.is(err.message, 'acme says no');
  t.is(err.hint, 'ask acme');
  t.deepEqual(err.data, { plugin: 'acme-backend', hook: 'spawn' });
});

test('a plugin made for another kernel API is refused at load with a clear error; a matching range loads', async (t) => {
  const box = sandbox('kp-plugin-api-');
  pluginPackage(box, 'karapace-plugin-acme', API_PLUGIN, { version: '3.0.0', engines: { node: '>=20', karapace: '^2.1' } });
  box.write('project/package.json', '{"name":"project","private":true}');
  box.write('project/.karapacerc.json', JSON.stringify({ plugins: ['karapace-plugin-acme'] }));
  const cwd = join(box.dir, 'project');
  const refused = await box.run(['list', '--json'], { cwd });
  t.is(refused.code, 1);
  const err = JSON.parse(refused.stderr.trim()).error;
  t.is(err.code, 'KP_PLUGIN_INCOMPATIBLE');
  t.regex(err.message, /plugin "acme-backend" \(karapace-plugin-acme\) needs kernel API \^2\.1 \("engines": \{ "karapace": "\^2\.1" \} in .*karapace-plugin-acme\/package\.json\); this karapace provides kernel API 1\.8\.0/);
  t.deepEqual(err.data, { plugin: 'acme-backend', kernelApi: '^2.1', provided: '1.8.0' });
  // A single-file plugin declares it on the plugin object.
  box.write('project/old.mjs', 'export default { name: "old", kernelApi: "0.x", apply() {} };\n');
  box.write('project/.karapacerc.json', JSON.stringify({ plugins: ['./old.mjs'] }));
  t.regex((await box.run(['list'], { cwd })).stderr, /plugin "old" \(\/.*\/old\.mjs\) needs kernel API 0\.x \(kernelApi: "0\.x"\); this karapace provides kernel API 1\.8\.0/);
  box.write('project/old.mjs', 'export default { name: "old", kernelApi: "banana", apply() {} };\n');
  t.regex((await box.run(['list'], { cwd })).stderr, /declares an unreadable kernel API range: kernelApi: "banana"/);
  box.write('project/old.mjs', 'export default { name: "old", kernelApi: ">=1.0.0 <2 || ^3", apply() {} };\n');
  t.is((await box.run(['list'], { cwd })).code, 0);
});

test('an image source for its own scheme needs no stage: the built-in sources pass on what is not theirs', async (t) => {
  const box = sandbox('kp-plugin-api-');
  const rootfs = join(box.dir, 'myorg-rootfs');
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  writeFileSync(join(rootfs, 'etc/os-release'), 'ID=myorg\n');
  pluginPackage(box, 'karapace-plugin-myorg', `
export default {
  name: 'myorg-images',
  apply(kernel) {
    kernel.hooks.resolve.tapPromise('myorg-images', async (request) => {
      if (!request.image.startsWith('myorg:')) return undefined;
      return { reference: request.image, source: request.image, digest: kernel.api.hash.hashBytes(request.image),
        rootfs: ${JSON.stringify(rootfs)}, packageManager: 'none', resolver: 'myorg-images' };
    });
  },
};
`);
  box.write('project/package.json', '{"name":"project","private":true}');
  box.write('project/.karapacerc.json', JSON.stringify({ plugins: ['karapace-plugin-myorg'] }));
  box.write('project/karapace.toml', mockManifest({ image: 'myorg:base' }));
  const cwd = join(box.dir, 'project');
  const built = await box.run(['build', '--json'], { cwd });
  t.is(built.code, 0, built.stderr);
  t.is(JSON.parse(built.stdout).base.image, 'myorg:base');
  // Nobody answering a foreign scheme is the kernel's error naming who was asked.
  box.write('project/karapace.toml', mockManifest({ image: 'otherorg:base' }));
  const unresolved = await box.run(['build'], { cwd });
  t.is(unresolved.code, 1);
  t.regex(unresolved.stderr, /no image source can resolve "otherorg:base" \(asked: .*image-sources.*myorg-images/);
});

test('plugin mistakes are pinpointed: a misspelled name has a did-you-mean, a syntax error has file:line, two plugins registering one backend are both named', async (t) => {
  const box = sandbox('kp-plugin-api-');
  pluginPackage(box, 'karapace-plugin-acme', API_PLUGIN);
  box.write('project/package.json', '{"name":"project","private":true}');
  const cwd = join(box.dir, 'project');
  box.write('project/.karapacerc.json', JSON.stringify({ plugins: ['karapace-plugin-acne'] }));
  const typo = await box.run(['list'], { cwd });
  t.is(typo.code, 1);
  t.regex(typo.stderr, /plugin "karapace-plugin-acne" was not found .*; did you mean "karapace-plugin-acme"\?/);

  const broken = box.write('project/broken.mjs', 'export default {\n  name: "broken",\n  apply(kernel) { kernel.hooks..spawn }\n};\n');
  box.write('project/.karapacerc.json', JSON.stringify({ plugins: ['./broken.mjs'] }));
  const syntax = await box.run(['list'], { cwd });
  t.is(syntax.code, 1);
  t.true(syntax.stderr.includes(`plugin "${broken}" failed to load: ${broken}:3: Unexpected token`), syntax.stderr);

  box.write('project/twin.mjs', API_PLUGIN.replace("name: 'acme-backend'", "name: 'acme-twin'"));
  box.write('project/.karapacerc.json', JSON.stringify({ plugins: ['karapace-plugin-acme', './twin.mjs'] }));
  const twice = await box.run(['list', '--json'], { cwd });
  t.is(twice.code, 1);
  const err = JSON.parse(twice.stderr.trim()).error;
  t.is(err.code, 'KP_BACKEND_DUPLICATE');
  t.regex(err.message, /plugins "acme-backend" and "acme-twin" both register the backend "acme"/);
});

test('a doctor check that throws is reported as a failed check of its plugin, and the other checks still run', async (t) => {
  const box = sandbox();
  box.write('package.json', '{}');
  box.write('flaky.mjs', 'export default { name: "flaky", apply(k) { k.hooks.doctor.tapPromise("flaky", async () => { throw new Error("probe crashed"); }); } };\n');
  box.write('.karapacerc.json', JSON.stringify({ plugins: ['./flaky.mjs'] }));
  const r = await box.run(['doctor', '--json']);
  const doc = JSON.parse(r.stdout) as { checks: { id: string; status: string; detail?: string; plugin?: string }[] };
  const flaky = doc.checks.find((c) => c.plugin === 'flaky');
  t.is(flaky?.status, 'fail');
  t.regex(flaky?.detail ?? '', /probe crashed/);
  t.true(doc.checks.some((c) => c.id === 'core.plugins' && c.status === 'ok'));
  t.true(doc.checks.length > 5, 'the other plugins\' checks ran too');
});
