/**
 * Presets as organisations ship them (a package bringing its plugin as its own dependency),
 * projects overriding a preset's plugin options by the plugin's name, `karapace config`
 * showing where each value came from, and `envAllow` wildcards reaching the environment.
 */
import test from 'ava';
import { join } from 'node:path';
import { mockManifest, sandbox, type Sandbox } from '../helpers/cli.js';

const ECHO_PLUGIN = `
export default {
  name: 'acme-echo',
  apply(kernel, options) {
    kernel.registerBackend({
      name: 'acme',
      async mount() { return { backend: 'acme', data: {} }; },
      async spawn(request) {
        const line = (options.prefix ?? 'default') + ': ' + request.argv.join(' ') + '\\n';
        if (request.stdio === 'capture') return { exitCode: 0, stdout: line, stderr: '' };
        process.stdout.write(line);
        return { exitCode: 0 };
      },
    });
  },
};
`;

/** project/node_modules/@acme/karapace-preset, with the plugin installed only under the preset. */
function acmePreset(box: Sandbox): string {
  const preset = 'project/node_modules/@acme/karapace-preset';
  box.write(`${preset}/package.json`, JSON.stringify({ name: '@acme/karapace-preset', version: '1.0.0', main: 'preset.json', dependencies: { 'karapace-plugin-acme': '1.0.0' } }));
  box.write(`${preset}/preset.json`, JSON.stringify({ defaultBackend: 'acme', plugins: [['karapace-plugin-acme', { prefix: 'PRESET' }]], security: { envAllow: ['ACME_*', 'TERM'] } }));
  box.write(`${preset}/node_modules/karapace-plugin-acme/package.json`, JSON.stringify({ name: 'karapace-plugin-acme', version: '1.0.0', type: 'module', main: 'index.js', engines: { karapace: '^1' } }));
  box.write(`${preset}/node_modules/karapace-plugin-acme/index.js`, ECHO_PLUGIN);
  box.write('project/package.json', JSON.stringify({ name: 'project', private: true }));
  box.write('project/karapace.toml', mockManifest({ backend: 'acme' }));
  return join(box.dir, preset);
}

test("a preset's plugins resolve from the preset package; the project overrides their options by name and the plugin loads once", async (t) => {
  const box = sandbox('kp-presets-');
  acmePreset(box);
  const cwd = join(box.dir, 'project');
  box.write('project/.karapacerc.json', JSON.stringify({ extends: '@acme/karapace-preset' }));
  await box.json(['build', '--name', 'p'], { cwd });
  t.is((await box.run(['exec', 'p', '--', 'hi'], { cwd })).stdout, 'PRESET: hi\n');

  box.write('project/.karapacerc.json', JSON.stringify({ extends: '@acme/karapace-preset', plugins: [['karapace-plugin-acme', { prefix: 'PROJECT' }]] }));
  const r = await box.run(['exec', 'p', '--', 'hi'], { cwd });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'PROJECT: hi\n', 'one copy of the plugin, with the project\'s options');
  const doctor = await box.json(['doctor'], { cwd });
  const plugins = doctor.checks.find((c: { id: string }) => c.id === 'core.plugins').detail as string;
  t.is(plugins.split(', ').filter((p) => p.startsWith('acme-echo')).length, 1, plugins);
});

test('karapace config prints the merged config and, with --show-origin or --json, the file behind each value', async (t) => {
  const box = sandbox('kp-presets-');
  const preset = acmePreset(box);
  const cwd = join(box.dir, 'project');
  const project = box.write('project/.karapacerc.json', JSON.stringify({ extends: '@acme/karapace-preset', defaultBackend: 'mock', security: { maxMemoryMb: 512 } }));
  const text = await box.run(['config', '--show-origin'], { cwd });
  t.is(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  t.true(lines.includes(`${project}\tdefaultBackend = "mock"`), text.stdout);
  t.true(lines.includes(`${join(preset, 'preset.json')}\tsecurity.envAllow = ["ACME_*","TERM"]`), text.stdout);
  t.true(lines.includes(`${project}\tsecurity.maxMemoryMb = 512`), text.stdout);
  t.true(lines.includes(`${join(preset, 'preset.json')}\tplugins.${join(preset, 'node_modules/karapace-plugin-acme/index.js')} = {"prefix":"PRESET"}`), text.stdout);
  t.false((await box.run(['config'], { cwd })).stdout.includes(project + '\t'), 'origins only with --show-origin');
  const doc = await box.json(['config'], { cwd });
  t.is(doc.config.defaultBackend, 'mock');
  t.deepEqual(doc.sources, [join(preset, 'preset.json'), project]);
  t.is(doc.origins.defaultBackend, project);
  t.is(doc.origins['security.envAllow'], join(preset, 'preset.json'));
});

test('envAllow wildcards pass matching variables into the environment; envDeny wildcards still win', async (t) => {
  const box = sandbox('kp-presets-');
  box.write('package.json', '{}');
  box.write('.karapacerc.json', JSON.stringify({ security: { envAllow: ['ACME_*', 'EXACT'], envDeny: ['ACME_SECRET_*'] } }));
  box.write('karapace.toml', mockManifest());
  await box.json(['build', '--name', 'w']);
  const env = { ACME_ONE: '1', ACME_TWO: '2', ACME_SECRET_KEY: 's', EXACT: 'e', EXACTLY: 'no', OTHER: 'o' };
  const r = await box.run(['exec', 'w', '--', 'sh', '-c', 'env | grep -E "^(ACME|EXACT|OTHER)" | sort'], { env });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'ACME_ONE=1\nACME_TWO=2\nEXACT=e\n');
});
