/**
 * push / pull as engine functions (the CLI's push and pull commands call these; so can
 * any other front end). They pick the remote, ask the `remote` hook for a client, and
 * close it afterwards.
 */
import { findEnv, type Engine } from '@karapace/kernel';
import type { PullResult } from './bundle/install.js';
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
  const remote = await openRemote(engine, options);
  try {
    return await remote.pushEnv(engine, options.env, target);
  } finally {
    remote.close();
  }
}

export interface PullOptions extends RemoteSelection {
  /** `name@tag`, `name` (= @latest) or `name@blake3:<digest>` (OCI: `name@sha256:<digest>`). */
  reference: string;
  /** Local name for the pulled environment. */
  name?: string;
}

export async function pullEnvironment(engine: Engine, options: PullOptions): Promise<PullResult & { remote: string; reference: string }> {
  const remote = await openRemote(engine, options);
  try {
    return await remote.pullEnv(engine, options.reference, { name: options.name });
  } finally {
    remote.close();
  }
}
