import { Command } from 'clipanion';
import { UsageError } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class TuiCommand extends BaseCommand {
  static override paths = [['tui']];
  static override usage = Command.Usage({
    description: 'Browse and manage environments in a terminal UI',
    details: 'A keyboard-driven list of environments with filter (/), sort (s), details (Enter), rename (r), destroy (d), freeze (f) and archive (a) — the last three ask for confirmation — refresh (R) and help (?). Needs a terminal; use `karapace list --json` for scripts.',
    examples: [['Open it', '$0 tui']],
  });

  async run(): Promise<number> {
    if (this.json) {
      throw new UsageError('KP_TUI_JSON', 'the TUI is interactive and has no JSON output', { hint: 'use `karapace list --json` or `karapace inspect <env> --json`' });
    }
    const stdin = this.context.stdin as NodeJS.ReadStream;
    const stdout = this.context.stdout as NodeJS.WriteStream;
    if (!stdin.isTTY || !stdout.isTTY) {
      throw new UsageError('KP_TUI_NO_TTY', 'the TUI needs a terminal on stdin and stdout', { hint: 'run it in a terminal, or use `karapace list`' });
    }
    const engine = await this.engine();
    // Loaded here so no other command pays for the TUI's modules.
    const { runTui } = await import('../tui/app.js');
    await runTui(engine, { stdin, stdout });
    return 0;
  }
}
