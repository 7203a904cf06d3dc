import test from 'ava';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel, PluginError, applyPlugin, importPlugin, silentLogger, definePlugin, type MountRequest } from '@karapace/kernel';

function kernel(): Kernel {
  return new Kernel({ config: {}, storeRoot: '/nonexistent', logger: silentLogger });
}

test('hooks are a fixed, frozen set', (t) => {
  const k = kernel();
  t.true(Object.isFrozen(k.hooks));
  t.deepEqual(Object.keys(k.hooks), ['resolve', 'install', 'pinned', 'lock', 'pack', 'mount', 'spawn', 'stop', 'status', 'mapped', 'commit', 'built', 'destroy', 'gc', 'keep', 'remote', 'progress', 'doctor']);
});

test('an exception in a tap names the plugin and the hook', async (t) => {
  const k = kernel();
  await applyPlugin(k, definePlugin({
    name: 'broken-resolver',
    apply(kernel) {
      kernel.hooks.resolve.tapPromise('broken-resolver', async () => { throw new Error('boom'); });
    },
  }));
  const err = await t.throwsAsync(k.hooks.resolve.promise({ image: 'x', offline: false, imagesDir: '/', stagingDir: '/', manifestDir: '/' }), { instanceOf: PluginError });
  t.is(err!.message, 'plugin "broken-resolver" failed in hook "resolve": boom');
  t.deepEqual(err!.data, { plugin: 'broken-resolver', hook: 'resolve' });
});

test('sync and callback taps are wrapped too', async (t) => {
  const k = kernel();
  await applyPlugin(k, definePlugin({ name: 'p', apply(kernel) {
    kernel.hooks.keep.tap('p', () => { throw new Error('no'); });
    kernel.hooks.gc.tapAsync('p', (_ctx, cb) => cb(new Error('cb-fail')));
  } }));
  t.throws(() => k.hooks.keep.call({ kind: 'object', id: 'x', path: '/x' }), { message: 'plugin "p" failed in hook "keep": no' });
  await t.throwsAsync(k.hooks.gc.promise({ dryRun: true, roots: new Set(), removed: [], imagesDir: '/', interrupted: () => false }), { message: 'plugin "p" failed in hook "gc": cb-fail' });
});

test('registerBackend answers mount/spawn only for its own name', async (t) => {
  const k = kernel();
  k.registerBackend({
    name: 'echo',
    mount: async () => ({ backend: 'echo' }),
    spawn: async (req) => ({ exitCode: req.argv.length }),
  });
  const env = { backend: 'echo' } as MountRequest['env'];
  t.deepEqual(await k.hooks.mount.promise({ backend: 'echo', env, purpose: 'exec' }), { backend: 'echo' });
  t.is(await k.hooks.mount.promise({ backend: 'other', env, purpose: 'exec' }), undefined);
  t.deepEqual(k.backends, ['echo']);
});

test('runStates asks each backend once for its envs (statusAll), as status answers; a status tap of another plugin or a failing batch sends every env through the hook', async (t) => {
  const k = kernel();
  const batches: string[][] = [];
  const running = new Set(['a2', 'b1']);
  const backend = (name: string, batch: boolean) => ({
    name,
    mount: async () => ({ backend: name }),
    spawn: async () => ({ exitCode: 0 }),
    status: async (env: { envId: string }) => (running.has(env.envId) ? 'running' as const : 'stopped' as const),
    ...(batch ? { statusAll: async (envs: readonly { envId: string }[]) => (batches.push(envs.map((e) => e.envId)), envs.map((e) => (running.has(e.envId) ? 'running' as const : 'stopped' as const))) } : {}),
  });
  k.registerBackend(backend('alpha', true));
  k.registerBackend(backend('beta', false));
  const envs = [['a1', 'alpha'], ['b1', 'beta'], ['a2', 'alpha'], ['x1', 'nobody']].map(([envId, b]) => ({ envId, backend: b }) as MountRequest['env']);
  t.deepEqual(await k.runStates(envs), ['stopped', 'running', 'running', undefined]);
  t.deepEqual(batches, [['a1', 'a2']], 'one batch for alpha; beta asked per env');

  // Another plugin answering status first: its answers win, as in the hook.
  await applyPlugin(k, definePlugin({ name: 'watcher', apply(kernel) {
    kernel.hooks.status.tapPromise({ name: 'watcher', stage: -1 }, async (env) => (env.envId === 'a1' ? 'running' : undefined));
  } }));
  batches.length = 0;
  t.deepEqual(await k.runStates(envs), ['running', 'running', 'running', undefined]);
  t.deepEqual(batches, []);
});

test('runStates: a batch that throws is asked again env by env', async (t) => {
  const k = kernel();
  k.registerBackend({
    name: 'flaky',
    mount: async () => ({ backend: 'flaky' }),
    spawn: async () => ({ exitCode: 0 }),
    status: async () => 'running',
    statusAll: async () => { throw new Error('batch broke'); },
  });
  t.deepEqual(await k.runStates([{ envId: 'e', backend: 'flaky' } as MountRequest['env']]), ['running']);
});

test('a plugin that throws in apply is an error naming it', async (t) => {
  const k = kernel();
  const err = await t.throwsAsync(applyPlugin(k, definePlugin({ name: 'thrower', apply() { throw new Error('bad setup'); } })), { instanceOf: PluginError });
  t.is(err!.code, 'KP_PLUGIN_APPLY_FAILED');
  t.regex(err!.message, /plugin "thrower" threw while loading: bad setup/);
});

test('plugin options are validated before apply', async (t) => {
  const k = kernel();
  let applied = false;
  const plugin = definePlugin<{ level?: number }>({
    name: 'opts',
    validateOptions: (o) => (typeof (o as { level?: unknown }).level === 'number' ? undefined : '"level" must be a number'),
    apply() { applied = true; },
  });
  await t.throwsAsync(applyPlugin(k, plugin as never, { level: 'x' }), { message: /plugin "opts": invalid options: "level" must be a number/ });
  t.false(applied);
  await applyPlugin(k, plugin as never, { level: 1 });
  t.true(applied);
  t.deepEqual(k.plugins, ['opts']);
});

test('importPlugin: missing module, missing path and a module without a plugin are clear errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-plugin-'));
  const e1 = await t.throwsAsync(importPlugin('karapace-plugin-does-not-exist', dir), { instanceOf: PluginError });
  t.is(e1!.code, 'KP_PLUGIN_NOT_FOUND');
  t.regex(e1!.message, /karapace-plugin-does-not-exist/);
  t.regex(e1!.hint!, /npm install karapace-plugin-does-not-exist/);
  const e2 = await t.throwsAsync(importPlugin('./nope.mjs', dir), { instanceOf: PluginError });
  t.is(e2!.code, 'KP_PLUGIN_NOT_FOUND');
  writeFileSync(join(dir, 'empty.mjs'), 'export const x = 1;\n');
  const e3 = await t.throwsAsync(importPlugin('./empty.mjs', dir), { instanceOf: PluginError });
  t.is(e3!.code, 'KP_PLUGIN_INVALID');
  writeFileSync(join(dir, 'syntax.mjs'), 'export default {\n');
  const e4 = await t.throwsAsync(importPlugin('./syntax.mjs', dir), { instanceOf: PluginError });
  t.is(e4!.code, 'KP_PLUGIN_LOAD_FAILED');
  mkdirSync(join(dir, 'node_modules', 'kp-good'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'kp-good', 'package.json'), JSON.stringify({ name: 'kp-good', type: 'module', main: 'index.js' }));
  writeFileSync(join(dir, 'node_modules', 'kp-good', 'index.js'), 'export default { name: "good", apply() {} };\n');
  const good = await importPlugin('kp-good', dir);
  t.is(good.name, 'good');
});

test('errors are recognised across copies of the kernel (by brand and class name)', async (t) => {
  const { KarapaceError: K, StoreError: S, ManifestError: M } = await import('@karapace/kernel');
  // A second copy of the module, as a plugin bundling its own kernel would have.
  const copy = (await import(`../../kernel/dist/errors.js?copy=${Date.now()}`)) as typeof import('@karapace/kernel');
  const foreign = new copy.StoreError('KP_X', 'from another copy');
  t.not(copy.StoreError, S);
  t.true(foreign instanceof K);
  t.true(foreign instanceof S);
  t.false(foreign instanceof M);
  t.false(new Error('plain') instanceof K);
  t.false({ code: 'KP_X', exitCode: 3 } instanceof K);
});

test('running index: a backend that marks what it starts is asked only about marked envs; the first look marks what runs, a stopped env loses its mark, one that started meanwhile keeps it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kp-running-'));
  const k = new Kernel({ config: {}, storeRoot: root, logger: silentLogger });
  const asked: string[][] = [];
  const running = new Set(['a']);
  // Answers for the next look at an env, then `running` again.
  const next = new Map<string, 'running' | 'stopped'>();
  const state = (id: string) => {
    const once = next.get(id);
    next.delete(id);
    return once ?? (running.has(id) ? 'running' as const : 'stopped' as const);
  };
  k.registerBackend({
    name: 'marking',
    marksRunning: true,
    mount: async () => ({ backend: 'marking' }),
    spawn: async () => ({ exitCode: 0 }),
    status: async (env) => state(env.envId),
    statusAll: async (envs) => (asked.push(envs.map((e) => e.envId)), envs.map((e) => state(e.envId))),
  });
  const ids = ['a', 'b', 'c'].map((envId) => ({ envId, backend: 'marking' }));
  const made: string[] = [];
  const handle = (i: number) => (made.push(ids[i]!.envId), { ...ids[i]!, shortId: ids[i]!.envId } as MountRequest['env']);
  const marks = () => (existsSync(join(root, 'running')) ? readdirSync(join(root, 'running')).sort() : undefined);

  // A store from before the index: every env is looked at, what runs gets its mark.
  t.deepEqual(await k.runStatesOf(ids, handle), ['running', 'stopped', 'stopped']);
  t.deepEqual(asked, [['a', 'b', 'c']]);
  t.deepEqual(marks(), ['a']);

  // From now on only marked envs are asked (and only their handles made).
  asked.length = 0;
  made.length = 0;
  t.deepEqual(await k.runStatesOf(ids, handle), ['running', 'stopped', 'stopped']);
  t.deepEqual(asked, [['a']]);
  t.deepEqual(made, ['a']);

  // c starts: its backend marks it after its run record.
  running.add('c');
  k.markRunning(handle(2));
  asked.length = 0;
  t.deepEqual(await k.runStatesOf(ids, handle), ['running', 'stopped', 'running']);
  t.deepEqual(asked, [['a', 'c']]);

  // a crashed (its record names a dead process): stopped, and its mark goes.
  running.delete('a');
  t.deepEqual(await k.runStatesOf(ids, handle), ['stopped', 'stopped', 'running']);
  t.deepEqual(marks(), ['c']);

  // c looks stopped at first but started again before its mark went: it is running and stays marked.
  next.set('c', 'stopped');
  t.deepEqual(await k.runStatesOf(ids, handle), ['stopped', 'stopped', 'running']);
  t.deepEqual(marks(), ['c']);
});
