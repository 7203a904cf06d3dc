/** Running processes inside environments through the backend's mount + spawn hooks. */
import { RuntimeFailure, UsageError } from '../errors.js';
import type { Kernel } from '../kernel.js';
import type { EnvHandle, MountPlan, SpawnPurpose, SpawnRequest, SpawnResult } from '../types.js';

function noBackend(kernel: Kernel, hook: 'mount' | 'spawn', backend: string): RuntimeFailure {
  const asked = kernel.tapNames(hook);
  return new RuntimeFailure('KP_BACKEND_UNKNOWN', `no plugin provides the backend "${backend}" (asked: ${asked.join(', ') || 'none'})`, {
    hint: `use one of: ${kernel.backends.join(', ') || 'none registered'} in [runtime] backend, or add the plugin that provides "${backend}" to your config`,
    data: { backend, asked },
  });
}

export async function mountEnv(kernel: Kernel, env: EnvHandle, purpose: SpawnPurpose): Promise<MountPlan> {
  const plan = await kernel.hooks.mount.promise({ backend: env.backend, env, purpose });
  if (!plan) throw noBackend(kernel, 'mount', env.backend);
  return plan;
}

export type RunOptions = Omit<SpawnRequest, 'backend' | 'env' | 'mount' | 'purpose'>;

/** mount → spawn → release; returns the command's status (128+n when killed by signal n). */
export async function runInEnv(kernel: Kernel, env: EnvHandle, purpose: SpawnPurpose, options: RunOptions): Promise<SpawnResult> {
  if (options.argv.length === 0 || !options.argv[0]) {
    throw new UsageError('KP_EXEC_NO_COMMAND', 'no command given', { hint: 'put the command after `--`, e.g. `karapace exec ENV -- sh -c "echo hi"`' });
  }
  const plan = await mountEnv(kernel, env, purpose);
  try {
    const result = await kernel.hooks.spawn.promise({ ...options, backend: env.backend, env, mount: plan, purpose });
    if (!result) throw noBackend(kernel, 'spawn', env.backend);
    return result;
  } finally {
    await plan.release?.();
  }
}
