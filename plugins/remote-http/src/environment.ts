/**
 * push as an engine function (the CLI's push command calls it; so can any other front end);
 * pull is the kernel's `pullEnvironment`. They pick the remote, ask the `remote` hook for a client, and
 * close it afterwards.
 */
import { findEnv, materializeLayerTars, type Engine } from '@karapace/kernel';
import { badReference } from './errors.js';
import { parseReference } from './protocol.js';
import { openRemote, type PushResult, type RemoteSelection } from './remote-api.js';

export interface PushOptions extends RemoteSelection {
  /** The environment: env_id, short_id, prefix or name. */
  env: string;
  /** `name@tag` on the remote. Default: the environment's name (or short_id) @latest. */
  reference?: string;
}

export async function pushEnvironment(engine: Engine, options: PushOptions): Promise<PushResult> {
  let target: { name: string; tag: string };
  if (options.reference) {
    const parsed = parseReference(options.reference);
    if (!parsed || !parsed.tag) throw badReference(options.reference);
    target = { name: parsed.name, tag: parsed.tag };
  } else {
    const meta = await findEnv(engine.layout, options.env);
    const name = (meta.name ?? meta.short_id).toLowerCase();
    if (!parseReference(name)) throw badReference(name);
    target = { name, tag: 'latest' };
  }
  // Bundles move layers as tar objects; the store keeps trees and makes the tars here.
  await materializeLayerTars(engine, options.env);
  const remote = await openRemote(engine, options);
  try {
    return await remote.pushEnv(engine, options.env, target);
  } finally {
    remote.close();
  }
}

/** Pull is a kernel operation (verification and install are the kernel's); re-exported for existing callers. */
export { pullEnvironment, type PullEnvironmentOptions as PullOptions } from '@karapace/kernel';
