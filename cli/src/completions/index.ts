/** Completion scripts for bash, zsh and fish, all rendered from the same command specs. */
import type { CommandSpec } from '../introspect.js';
import { bashCompletion } from './bash.js';
import { fishCompletion } from './fish.js';
import { zshCompletion } from './zsh.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function completionScript(shell: Shell, specs: CommandSpec[], bin = 'karapace'): string {
  switch (shell) {
    case 'bash': return bashCompletion(specs, bin);
    case 'zsh': return zshCompletion(specs, bin);
    case 'fish': return fishCompletion(specs, bin);
  }
}
