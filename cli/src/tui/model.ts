/** TUI state and the pure parts: filtering, sorting, what a key does in each mode. */
import type { EnvSummary } from '@karapace/kernel';

export type SortKey = 'created' | 'name' | 'state' | 'base';
export const SORT_KEYS: SortKey[] = ['created', 'name', 'state', 'base'];

export type Mode =
  | { kind: 'list' }
  | { kind: 'filter'; draft: string }
  | { kind: 'rename'; draft: string; env: EnvSummary }
  | { kind: 'confirm'; action: 'destroy' | 'freeze' | 'archive'; env: EnvSummary }
  | { kind: 'details'; text: string }
  | { kind: 'help' };

export interface TuiState {
  envs: EnvSummary[];
  filter: string;
  sort: SortKey;
  selected: number;
  mode: Mode;
  message: string;
  busy: boolean;
}

export function initialState(): TuiState {
  return { envs: [], filter: '', sort: 'created', selected: 0, mode: { kind: 'list' }, message: 'press ? for help', busy: false };
}

export function visible(state: TuiState): EnvSummary[] {
  const needle = state.filter.toLowerCase();
  const rows = needle
    ? state.envs.filter((e) => [e.name ?? '', e.short_id, e.env_id, e.state, e.base, e.backend].some((f) => f.toLowerCase().includes(needle)))
    : [...state.envs];
  const key = (e: EnvSummary): string => {
    switch (state.sort) {
      case 'name': return (e.name ?? `~${e.short_id}`).toLowerCase();
      case 'state': return e.state;
      case 'base': return e.base;
      default: return e.created_at;
    }
  };
  return rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.env_id < b.env_id ? -1 : 1));
}

export function current(state: TuiState): EnvSummary | undefined {
  return visible(state)[state.selected];
}

export function clampSelection(state: TuiState): void {
  const n = visible(state).length;
  state.selected = n === 0 ? 0 : Math.min(Math.max(state.selected, 0), n - 1);
}

export const HELP = [
  'Keys',
  '  ↑/↓, j/k     move          Enter, i   details',
  '  /            filter        s          cycle sort (created, name, state, base)',
  '  r            rename        d          destroy (asks first)',
  '  f            freeze        a          archive (asks first)',
  '  R, Ctrl-L    refresh       ?          this help',
  '  q, Ctrl-C    quit          Esc        back / clear filter',
];
