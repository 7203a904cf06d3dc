/**
 * Backends declare what they enforce; a manifest asking for more is refused at build (exit
 * 2) naming the key and the backend, before anything is created. The resolved mounts reach
 * the backend in the spawn request.
 */
import test from 'ava';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../helpers/cli.js';

test('a manifest asking for what the backend lacks fails at build with exit 2, naming every key and the backend; nothing is created', async (t) => {
  const box = sandbox('kp-caps-');
  box.write('karapace.toml', mockManifest({ extra: '[runtime.resource_limits]\nmemory_limit_mb = 256\n' }).replace('[runtime]', '[runtime]\nnetwork_isolation = true'));
  const r = await box.run(['build', '--json']);
  t.is(r.code, 2);
  const err = JSON.parse(r.stderr.trim()).error;
  t.is(err.code, 'KP_BACKEND_UNSUPPORTED');
  t.is(err.message, 'backend "mock" (plugin "runtime-mock") does not support runtime.network_isolation (networkIsolation), runtime.resource_limits.memory_limit_mb (resourceLimits), which the manifest asks for');
  t.regex(err.hint, /pick a backend that supports networkIsolation: namespace, oci/);
  t.deepEqual((await box.json(['list'])).environments, []);
  t.false(existsSync(join(box.dir, 'karapace.lock')));
});

test('a plugin backend gets the resolved mounts in its spawn request, and an undeclared capability is refused', async (t) => {
  const box = sandbox('kp-caps-');
  mkdirSync(join(box.dir, 'ws'));
  box.write('package.json', '{}');
  const plugin = (caps: string) => `export default { name: "probe", apply(k) { k.registerBackend({ name: "probe", capabilities: ${caps},
    async mount() { return { backend: "probe", data: {} }; },
    async spawn(r) { const line = JSON.stringify(r.mounts ?? null) + "\\n";
      if (r.stdio === "capture") return { exitCode: 0, stdout: line, stderr: "" }; process.stdout.write(line); return { exitCode: 0 }; } }); } };\n`;
  box.write('probe.mjs', plugin('{ mounts: true }'));
  box.write('.karapacerc.json', JSON.stringify({ plugins: ['./probe.mjs'] }));
  box.write('karapace.toml', mockManifest({ backend: 'probe', extra: '[mounts]\nws = "./ws:/workspace:ro"\n' }));
  await box.json(['build', '--name', 'm']);
  const r = await box.run(['exec', 'm', '--', 'true']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), [{ label: 'ws', source: join(realpathSync(box.dir), 'ws'), target: '/workspace', readOnly: true, isDirectory: true }]);

  box.write('probe.mjs', plugin('{}'));
  box.write('karapace.toml', mockManifest({ backend: 'probe', extra: '[mounts]\nother = "./ws:/other"\n' }));
  const refused = await box.run(['build']);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /backend "probe" \(plugin "probe"\) does not support mounts\.other \(mounts\)/);
});

test('what a run asks is checked when it runs: enter needs tty, a frozen env a read-only root; freeze is refused on a backend without one', async (t) => {
  const box = sandbox('kp-caps-');
  box.write('package.json', '{}');
  const plugin = (caps: string) => `export default { name: "probe", apply(k) { k.registerBackend({ name: "probe", capabilities: ${caps},
    async mount() { return { backend: "probe", data: {} }; },
    async spawn(r) { if (r.stdio === "capture") return { exitCode: 0, stdout: "ran\\n", stderr: "" }; process.stdout.write("ran\\n"); return { exitCode: 0 }; } }); } };\n`;
  box.write('probe.mjs', plugin('{ tty: true, readOnlyRoot: true }'));
  box.write('.karapacerc.json', JSON.stringify({ plugins: ['./probe.mjs'] }));
  box.write('karapace.toml', mockManifest({ backend: 'probe' }));
  await box.json(['build', '--name', 'p']);
  t.is((await box.run(['freeze', 'p'])).code, 0);
  t.is((await box.run(['exec', 'p', '--', 'true'])).stdout, 'ran\n');

  // The plugin changed since the build: it no longer enforces a read-only root or has a tty.
  box.write('probe.mjs', plugin('{}'));
  const frozen = await box.run(['exec', 'p', '--json', '--', 'true']);
  t.is(frozen.code, 2);
  t.is(frozen.stdout, '');
  t.regex(JSON.parse(frozen.stderr.trim()).error.message, /backend "probe" \(plugin "probe"\) does not support frozen \(a read-only root\) \(readOnlyRoot\)/);
  t.is((await box.run(['unfreeze', 'p'])).code, 0);
  t.is((await box.run(['exec', 'p', '--', 'true'])).stdout, 'ran\n');
  const enter = await box.run(['enter', 'p']);
  t.is(enter.code, 2);
  t.regex(enter.stderr, /does not support enter \(a terminal\) \(tty\)/);
  const freeze = await box.run(['freeze', 'p']);
  t.is(freeze.code, 2);
  t.regex(freeze.stderr, /does not support frozen \(a read-only root\)/);
  t.is((await box.json(['inspect', 'p'])).state, 'built');
});
