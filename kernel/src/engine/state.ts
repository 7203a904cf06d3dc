/**
 * Environment state rules (DESIGN §6): defined → built ⇄ running; built ⇄ frozen ⇄ archived
 * (freeze/unfreeze, archive/unarchive). A frozen environment takes no writes (its backend
 * mounts the root read-only; commit and restore are refused); an archived one cannot be
 * entered; a running one cannot be destroyed, restored, committed or change state.
 */
import { checkBackendCapabilities } from '../capabilities.js';
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
        ? `frozen environments take no writes; \`karapace unfreeze ${meta.name ?? meta.short_id}\` makes it writable again`
        : `archived environments are kept for reference only; \`karapace unarchive ${meta.name ?? meta.short_id}\` brings it back (frozen)`,
    });
  }
}

type Transition = 'freeze' | 'unfreeze' | 'archive' | 'unarchive';

/** Each transition: the one state it starts from, the state it ends in, and its past tense. */
const TRANSITIONS: Record<Transition, { from: EnvState; to: EnvState; done: string }> = {
  freeze: { from: 'built', to: 'frozen', done: 'frozen' },
  unfreeze: { from: 'frozen', to: 'built', done: 'unfrozen' },
  archive: { from: 'frozen', to: 'archived', done: 'archived' },
  unarchive: { from: 'archived', to: 'frozen', done: 'unarchived' },
};

/** What to run first when `t` does not apply to an env in `state`. */
function nextStep(t: Transition, state: EnvState, ref: string): string {
  if (t === 'archive' && state === 'built') return `freeze it first with \`karapace freeze ${ref}\``;
  if (t === 'unfreeze' && state === 'archived') return `unarchive it first with \`karapace unarchive ${ref}\``;
  if (t === 'freeze' && state === 'frozen') return 'it is frozen already';
  if (t === 'unfreeze' && state === 'built') return 'it is writable already';
  return 'see `karapace inspect` for its state';
}

async function transition(engine: Engine, ref: string, t: Transition): Promise<{ env_id: string; short_id: string; state: EnvState; previous: EnvState }> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    const { from, to, done } = TRANSITIONS[t];
    await assertNotRunning(engine, meta, done);
    if (meta.state !== from) {
      throw new UsageError('KP_ENV_STATE', `environment ${meta.short_id} is ${meta.state}; only ${from} environments can be ${done}`, {
        hint: nextStep(t, meta.state, meta.name ?? meta.short_id),
        data: { state: meta.state, wanted: to },
      });
    }
    if (to === 'frozen') {
      // Frozen means read-only: refused up front on a backend that cannot enforce it.
      await engine.loadBuiltins({ backend: meta.backend });
      checkBackendCapabilities(engine.kernel, meta.manifest, { readOnly: true });
    }
    await writeMetadata(engine.layout, { ...meta, state: to, updated_at: new Date().toISOString() });
    return { env_id: meta.env_id, short_id: meta.short_id, state: to, previous: meta.state };
  });
}

export const freezeEnv = (engine: Engine, ref: string) => transition(engine, ref, 'freeze');
export const unfreezeEnv = (engine: Engine, ref: string) => transition(engine, ref, 'unfreeze');
export const archiveEnv = (engine: Engine, ref: string) => transition(engine, ref, 'archive');
export const unarchiveEnv = (engine: Engine, ref: string) => transition(engine, ref, 'unarchive');
