/**
 * The kernel's own behaviour, written as a plugin (DESIGN §4): the default layer packer
 * taps `pack` at stage 100 — after every plugin at the default stage 0, so any of them may
 * answer first. It also taps the waterfalls `lock` and `commit` last, to check that what the
 * plugins before it produced keeps the hook's contract (hook-contracts.ts). createEngine
 * applies it before the built-ins. Implementations load on first use (start-up time).
 */
import type { KarapacePlugin } from '../plugin.js';
import { storeLayout } from '../store/layout.js';

export const CORE_PLUGIN_NAME = 'karapace:core';

/** The stage of the kernel's packer: taps at a lower stage (the default is 0) run first. */
export const CORE_PACK_STAGE = 100;

export const corePlugin: KarapacePlugin<unknown> = {
  name: CORE_PLUGIN_NAME,
  apply(kernel) {
    const layout = storeLayout(kernel.storeRoot);
    kernel.hooks.pack.tapPromise({ name: `${CORE_PLUGIN_NAME}:pack`, stage: CORE_PACK_STAGE }, async (request) => {
      const { packLayer } = await import('../layers/layer.js');
      // An env's upper dir is read inside its id mapping when its backend offers one.
      const tar = request.env ? (await import('../mapped/run.js')).envTar(kernel, request.env, request.dir) : undefined;
      return packLayer(layout, request.dir, { kind: request.kind, parent: request.parent, message: request.message, tar });
    });
    kernel.hooks.lock.tapPromise({ name: `${CORE_PLUGIN_NAME}:lock`, stage: CORE_PACK_STAGE }, async (lock, context) =>
      (await import('./hook-contracts.js')).checkLockTaps(kernel, `${CORE_PLUGIN_NAME}:lock`, lock, context));
    kernel.hooks.commit.tapPromise({ name: `${CORE_PLUGIN_NAME}:commit`, stage: CORE_PACK_STAGE }, async (layer) =>
      (await import('./hook-contracts.js')).checkCommitTaps(kernel, `${CORE_PLUGIN_NAME}:commit`, layout, layer));
  },
};
