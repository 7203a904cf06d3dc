/**
 * Environment state rules (DESIGN §6): defined → built ⇄ running; built → frozen → archived.
 * A frozen environment takes no writes; an archived one cannot be entered; a running one
 * cannot be destroyed, restored or committed.
 */
import { UsageError } from '../errors.js';
import { writeMetadata, type EnvMetadata, type EnvState } from '../store/metadata.js';
import type { Engine } from './engine.js';
import { findEnv } from './find.js';
import { withLock } from './with-lock.js';
import { envRunState } from './lifecycle.js';

export async function assertNotRunning(engine: Engine, meta: EnvMetadata, action: string): Promise<void> {
  if ((await envRunState(engine, meta)) === 'running') {
    throw new UsageError('KP_ENV_RUNNING', `environment ${meta.short_id} is running and cannot be ${action}`, {
      hint: `stop it first with \`karapace stop ${meta.name ?? meta.short_id}\``,
    });
  }
}

export function assertWritable(meta: EnvMetadata, action: string): void {
  if (meta.state === 'frozen' || meta.state === 'archived') {
    throw new UsageError(meta.state === 'frozen' ? 'KP_ENV_FROZEN' : 'KP_ENV_ARCHIVED', `environment ${meta.short_id} is ${meta.state} and cannot be ${action}`, {
      hint: meta.state === 'frozen'
        ? 'frozen environments take no writes; build a new environment from the manifest to change it'
        : 'archived environments are kept for reference only; build it again from its manifest to use it',
    });
  }
}

const ALLOWED: Record<'frozen' | 'archived', EnvState[]> = { frozen: ['built'], archived: ['frozen'] };

async function transition(engine: Engine, ref: string, to: 'frozen' | 'archived'): Promise<{ env_id: string; short_id: string; state: EnvState; previous: EnvState }> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    const verb = to === 'frozen' ? 'frozen' : 'archived';
    await assertNotRunning(engine, meta, verb);
    if (!ALLOWED[to].includes(meta.state)) {
      throw new UsageError('KP_ENV_STATE', `environment ${meta.short_id} is ${meta.state}; only ${ALLOWED[to].join('/')} environments can be ${verb}`, {
        hint: to === 'archived' && meta.state === 'built' ? `freeze it first with \`karapace freeze ${meta.name ?? meta.short_id}\`` : 'see `karapace inspect` for its state',
        data: { state: meta.state, wanted: to },
      });
    }
    await writeMetadata(engine.layout, { ...meta, state: to, updated_at: new Date().toISOString() });
    return { env_id: meta.env_id, short_id: meta.short_id, state: to, previous: meta.state };
  });
}

export const freezeEnv = (engine: Engine, ref: string) => transition(engine, ref, 'frozen');
export const archiveEnv = (engine: Engine, ref: string) => transition(engine, ref, 'archived');
