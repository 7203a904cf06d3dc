/**
 * The `pack` hook: the kernel's packer is a real tap (the core plugin, stage 100), so a
 * plugin tapping at the default stage is asked first and may answer; when it returns
 * undefined the kernel's packer answers. Real engine, real mock environment, real store.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  build, commitEnv, createEngine, definePlugin, packLayer, readLayer, storeLayout, verifyStore,
  CORE_PACK_STAGE, CORE_PLUGIN_NAME, type Engine, type KarapacePlugin, type PackRequest,
} from '@karapace/kernel';
import { mockManifest, sandbox } from '../../helpers/cli.js';

async function engineWith(t: { teardown(fn: () => void): void }, plugins: KarapacePlugin<unknown>[]): Promise<{ engine: Engine; asked: string[] }> {
  const box = sandbox('kp-pack-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('karapace.toml', mockManifest({ packages: ['git'] }));
  const engine = await createEngine({ cwd: box.dir, store: box.store, globalConfigDir: join(box.dir, 'config-home'), env: { ...process.env, ...box.env }, plugins });
  // Which pack taps actually ran, in order.
  const asked: string[] = [];
  engine.kernel.hooks.pack.intercept({ tap: (tap) => { asked.push(tap.name); } });
  await build(engine, { name: 'dev' });
  return { engine, asked };
}

test('the kernel packer is a tap of the core plugin at stage 100, applied before the built-ins', async (t) => {
  const { engine } = await engineWith(t, []);
  t.is(engine.kernel.plugins[0], CORE_PLUGIN_NAME);
  const taps = (engine.kernel.hooks.pack as unknown as { taps: { name: string; stage?: number }[] }).taps;
  const core = taps.find((tap) => tap.name === `${CORE_PLUGIN_NAME}:pack`);
  t.truthy(core);
  t.is(core!.stage, CORE_PACK_STAGE);
  t.is(CORE_PACK_STAGE, 100);
});

test('a plugin pack tap at the default stage answers first; the kernel packer does not run', async (t) => {
  const requests: PackRequest[] = [];
  const plugin = definePlugin({
    name: 'test-packer',
    apply(kernel) {
      kernel.hooks.pack.tapPromise('test-packer', async (request) => {
        requests.push(request);
        // A plugin's own packer: here, the kernel's layer module with its own message.
        return packLayer(storeLayout(kernel.storeRoot), request.dir, { kind: request.kind, parent: request.parent, message: 'packed by test-packer' });
      });
    },
  });
  const { engine, asked } = await engineWith(t, [plugin as KarapacePlugin<unknown>]);
  const result = await commitEnv(engine, 'dev', { message: 'from the user' });
  t.deepEqual(asked, ['test-packer'], 'only the plugin was asked');
  t.is(requests.length, 1);
  t.is(requests[0]!.kind, 'snapshot');
  t.is(requests[0]!.message, 'from the user', 'the request carries commit -m');
  t.is(result.layer.message, 'packed by test-packer');
  t.is((await readLayer(engine.layout, result.layer.hash)).message, 'packed by test-packer');
  t.true((await verifyStore(engine)).ok);
});

test('a plugin pack tap returning undefined falls through to the kernel packer', async (t) => {
  const seen: PackRequest[] = [];
  const plugin = definePlugin({
    name: 'test-observer',
    apply(kernel) {
      kernel.hooks.pack.tapPromise('test-observer', async (request) => {
        seen.push(request);
        return undefined;
      });
      // A tap after the kernel's stage is never reached: the kernel answered.
      kernel.hooks.pack.tapPromise({ name: 'test-too-late', stage: 200 }, async () => {
        throw new Error('a tap after stage 100 must not run');
      });
    },
  });
  const { engine, asked } = await engineWith(t, [plugin as KarapacePlugin<unknown>]);
  const result = await commitEnv(engine, 'dev', { message: 'kept' });
  t.deepEqual(asked, ['test-observer', `${CORE_PLUGIN_NAME}:pack`]);
  t.is(seen.length, 1);
  t.is(result.layer.message, 'kept', 'the kernel packer recorded commit -m');
  t.is(result.layer.kind, 'snapshot');
  const record = await readLayer(engine.layout, result.layer.hash);
  t.is(record.object, result.layer.object);
  t.true((await verifyStore(engine)).ok);
});
