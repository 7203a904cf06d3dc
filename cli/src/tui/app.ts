/**
 * The TUI loop: keys in, engine calls out, redraw. Loaded lazily by `karapace tui` only.
 * Every action calls the same engine function as the matching CLI command.
 */
import { emitKeypressEvents } from 'node:readline';
import {
  archiveEnv, asKarapaceError, destroyEnv, freezeEnv, inspectEnv, listEnvs, renameEnv, type Engine,
} from '@karapace/kernel';
import { clampSelection, current, initialState, SORT_KEYS, visible, type TuiState } from './model.js';
import { ENTER_SCREEN, LEAVE_SCREEN, render } from './render.js';

interface Key {
  name?: string;
  sequence?: string;
  ctrl?: boolean;
  meta?: boolean;
  shift?: boolean;
}

export interface TuiIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
}

export async function runTui(engine: Engine, io: TuiIo): Promise<void> {
  const state = initialState();
  const draw = () => io.stdout.write(render(state, io.stdout.columns || 100, io.stdout.rows || 30));

  const refresh = async (message?: string) => {
    const { environments, corrupt } = await listEnvs(engine);
    state.envs = environments;
    clampSelection(state);
    state.message = message ?? `${environments.length} environment(s)${corrupt.length ? `; ${corrupt.length} corrupt metadata file(s): run karapace verify-store` : ''}`;
  };

  const act = async (fn: () => Promise<string>) => {
    state.busy = true;
    draw();
    try {
      const message = await fn();
      await refresh(message);
    } catch (err) {
      const e = asKarapaceError(err);
      state.message = `error: ${e.message}${e.hint ? ` — ${e.hint}` : ''}`;
    } finally {
      state.busy = false;
      state.mode = { kind: 'list' };
    }
  };

  await refresh();
  io.stdout.write(ENTER_SCREEN);
  emitKeypressEvents(io.stdin);
  io.stdin.setRawMode?.(true);
  io.stdin.resume();
  draw();

  await new Promise<void>((resolve) => {
    let queue = Promise.resolve();
    const finish = () => {
      io.stdin.off('keypress', onKey);
      io.stdout.off('resize', draw);
      io.stdin.setRawMode?.(false);
      io.stdin.pause();
      io.stdout.write(LEAVE_SCREEN);
      resolve();
    };
    const onKey = (str: string | undefined, key: Key = {}) => {
      // Keys are handled one at a time: an action finishes before the next key is read.
      // Esc followed quickly by a key arrives as Alt+key: handle it as the two keys it was.
      const seq = key.sequence ?? '';
      const keys: [string | undefined, Key][] = key.meta && seq.length === 2 && seq.startsWith('\x1b') && seq[1]! >= ' '
        ? [[undefined, { name: 'escape' }], [seq[1], { name: /[a-z]/i.test(seq[1]!) ? seq[1]!.toLowerCase() : undefined, shift: seq[1] !== seq[1]!.toLowerCase() }]]
        : [[str, key]];
      queue = queue.then(async () => {
        for (const [s, k] of keys) {
          if (await handleKey(state, s, k, { refresh, act, engine })) return finish();
        }
        draw();
      });
    };
    io.stdin.on('keypress', onKey);
    io.stdout.on('resize', draw);
  });
}

interface Actions {
  refresh(message?: string): Promise<void>;
  act(fn: () => Promise<string>): Promise<void>;
  engine: Engine;
}

/** Returns true to quit. */
async function handleKey(state: TuiState, str: string | undefined, key: Key, a: Actions): Promise<boolean> {
  if (key.ctrl && key.name === 'c') return true;
  const mode = state.mode;
  const name = key.name ?? str;
  switch (mode.kind) {
    case 'filter':
    case 'rename': {
      if (name === 'escape') {
        if (mode.kind === 'filter') state.filter = '';
        state.mode = { kind: 'list' };
      } else if (name === 'return' || name === 'enter') {
        if (mode.kind === 'filter') {
          state.filter = mode.draft;
          state.selected = 0;
          state.mode = { kind: 'list' };
        } else {
          const env = mode.env;
          const to = mode.draft.trim();
          await a.act(async () => {
            const r = await renameEnv(a.engine, env.env_id, to);
            return `renamed ${r.short_id} to ${r.name}`;
          });
        }
      } else if (name === 'backspace') {
        mode.draft = mode.draft.slice(0, -1);
      } else if (str && str.length === 1 && str >= ' ' && !key.ctrl) {
        mode.draft += str;
      }
      if (state.mode.kind === 'filter') {
        // Live filtering while typing.
        state.filter = state.mode.draft;
        clampSelection(state);
      }
      return false;
    }
    case 'confirm': {
      if (str === 'y' || str === 'Y') {
        const { action, env } = mode;
        const ref = env.env_id;
        await a.act(async () => {
          if (action === 'destroy') await destroyEnv(a.engine, ref);
          else if (action === 'freeze') await freezeEnv(a.engine, ref);
          else await archiveEnv(a.engine, ref);
          return `${action === 'destroy' ? 'destroyed' : action === 'freeze' ? 'froze' : 'archived'} ${env.name ?? env.short_id}`;
        });
      } else {
        state.mode = { kind: 'list' };
        state.message = 'cancelled';
      }
      return false;
    }
    case 'details':
    case 'help':
      if (name === 'escape' || name === 'q' || name === 'return' || name === 'enter') state.mode = { kind: 'list' };
      return false;
    default:
      break;
  }
  if (str === 'R' || (key.ctrl && key.name === 'l')) {
    await a.refresh('refreshed');
    return false;
  }
  const env = current(state);
  const rows = visible(state).length;
  switch (name) {
    case 'q':
      return true;
    case 'up':
    case 'k':
      state.selected = Math.max(0, state.selected - 1);
      break;
    case 'down':
    case 'j':
      state.selected = Math.min(Math.max(0, rows - 1), state.selected + 1);
      break;
    case 'home':
      state.selected = 0;
      break;
    case 'end':
      state.selected = Math.max(0, rows - 1);
      break;
    case '/':
      state.mode = { kind: 'filter', draft: state.filter };
      break;
    case 'escape':
      state.filter = '';
      clampSelection(state);
      break;
    case 's':
      state.sort = SORT_KEYS[(SORT_KEYS.indexOf(state.sort) + 1) % SORT_KEYS.length]!;
      state.message = `sorted by ${state.sort}`;
      break;
    case '?':
      state.mode = { kind: 'help' };
      break;
    case 'return':
    case 'enter':
    case 'i':
      if (env) {
        try {
          const meta = await inspectEnv(a.engine, env.env_id);
          state.mode = { kind: 'details', text: details(meta) };
        } catch (err) {
          state.message = `error: ${asKarapaceError(err).message}`;
        }
      }
      break;
    case 'r':
      if (env) state.mode = { kind: 'rename', draft: env.name ?? '', env };
      break;
    case 'd':
      if (env) state.mode = { kind: 'confirm', action: 'destroy', env };
      break;
    case 'f':
      if (env) state.mode = { kind: 'confirm', action: 'freeze', env };
      break;
    case 'a':
      if (env) state.mode = { kind: 'confirm', action: 'archive', env };
      break;
    default:
      break;
  }
  return false;
}

function details(meta: Awaited<ReturnType<typeof inspectEnv>>): string {
  const packages = meta.lock.resolved_packages.map((p) => `${p.name}=${p.version}`);
  return [
    `env_id:    ${meta.env_id}`,
    `name:      ${meta.name ?? '-'}`,
    `state:     ${meta.state}`,
    `backend:   ${meta.backend}`,
    `base:      ${meta.base.reference} (${meta.base.digest.slice(0, 24)}…)`,
    `manifest:  ${meta.manifest_path}`,
    `created:   ${meta.created_at}`,
    `updated:   ${meta.updated_at}`,
    `snapshots: ${meta.snapshots.length}`,
    `apps:      ${meta.manifest.gui.apps.join(', ') || '-'}`,
    `packages:  ${packages.length ? packages.join(', ') : '-'}`,
  ].join('\n');
}
