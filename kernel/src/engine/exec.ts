/**
 * exec and enter: the hot path. Kept apart from the rest of the lifecycle so a bundle of
 * `karapace exec` loads only what running a command needs.
 */
import { checkBackendCapabilities } from '../capabilities.js';
import { UsageError } from '../errors.js';
import { CONTAINER_PATH, filterEnvironment, userEnvironment } from '../security/environment.js';
import { integrationEnvironment } from '../security/integration.js';
import { resolveMounts } from '../security/mounts.js';
import { checkResourceLimits } from '../security/limits.js';
import type { EnvMetadata } from '../store/metadata.js';
import type { SpawnResult } from '../types.js';
import type { Engine } from './engine.js';
import { findEnv } from './find.js';
import { handleFor } from './handle.js';
import { runInEnv } from './run.js';

export interface ExecOptions {
  /** Keep/allocate a terminal (enter). */
  tty?: boolean;
  cwd?: string;
  /** Capture stdout/stderr instead of streaming them (front ends other than the CLI). */
  capture?: boolean;
  /**
   * Run as root inside (`--root`): uid 0 with the user namespace's capabilities, HOME=/root.
   * With full id mapping that root owns the image's files (never anything on the host the
   * user could not touch); with single-id mapping it is the user, chown is faked.
   */
  root?: boolean;
}

function checkEnterable(meta: EnvMetadata): void {
  if (meta.state === 'archived') {
    throw new UsageError('KP_ENV_ARCHIVED', `environment ${meta.short_id} is archived and cannot be entered`, {
      hint: `unarchive it first with \`karapace unarchive ${meta.name ?? meta.short_id}\` (it comes back frozen: read-only)`,
    });
  }
  if (meta.state === 'defined') {
    throw new UsageError('KP_ENV_NOT_BUILT', `environment ${meta.short_id} is not built`, { hint: 'run `karapace build` first' });
  }
}

/** Runs a command as the invoking user (or root inside, `root`); resolves to its exit status. */
export async function execInEnv(engine: Engine, ref: string, argv: string[], options: ExecOptions = {}): Promise<SpawnResult> {
  const meta = await findEnv(engine.layout, ref);
  checkEnterable(meta);
  await engine.loadBuiltins({ backend: meta.backend });
  // A frozen env on a backend that cannot make its root read-only would run writable.
  checkBackendCapabilities(engine.kernel, meta.manifest, { tty: options.tty === true, readOnly: meta.state === 'frozen' });
  const handle = handleFor(engine.layout, meta);
  const user = engine.user;
  // Policy checks come before anything runs, whatever the backend.
  const mounts = resolveMounts(meta.manifest.mounts, meta.manifest_dir, engine.policy, user);
  checkResourceLimits(meta.manifest.runtime.resource_limits, engine.policy);
  const identity = options.root
    ? { HOME: '/root', USER: 'root', LOGNAME: 'root', PATH: CONTAINER_PATH, KARAPACE_ENV_ID: meta.env_id }
    : userEnvironment(user, meta.env_id);
  return runInEnv(engine.kernel, handle, options.tty ? 'enter' : 'exec', {
    argv,
    user: options.root ? 'root' : 'invoker',
    stdio: options.capture ? 'capture' : 'inherit',
    tty: options.tty === true,
    environment: filterEnvironment(engine.env, engine.policy, { ...integrationEnvironment(engine.env, engine.policy), ...identity }),
    cwd: options.cwd,
    network: !meta.manifest.runtime.network_isolation,
    readOnly: meta.state === 'frozen',
    mounts,
  });
}

/** Interactive shell (or the given command) with a terminal. */
export async function enterEnv(engine: Engine, ref: string, argv: string[] = [], options: Pick<ExecOptions, 'root'> = {}): Promise<SpawnResult> {
  const command = argv.length ? argv : [engine.env.SHELL && engine.env.SHELL.startsWith('/bin/') ? engine.env.SHELL : '/bin/sh'];
  return execInEnv(engine, ref, command, { tty: true, root: options.root === true });
}

