import { Command, Option } from 'clipanion';
import { enterEnv, UsageError } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class EnterCommand extends BaseCommand {
  static override paths = [['enter']];
  static override usage = Command.Usage({
    description: 'Enter an environment with an interactive shell',
    examples: [['Enter by name', '$0 enter dev'], ['Run a command with a terminal', '$0 enter dev -- htop'], ['A root shell inside', '$0 enter --root dev']],
  });

  root = Option.Boolean('--root', false, { description: 'Enter as root inside (uid 0 of the environment\'s user namespace, never host root)' });
  env = Option.String({ name: 'env' });
  command = Option.Rest({ name: 'command' });

  async run(): Promise<number> {
    if (this.json) throw new UsageError('KP_ENTER_JSON', '`enter` is interactive and has no JSON output', { hint: 'use `karapace exec --json` to capture output' });
    // Only the environment's backend plugin is loaded (exec start-up time).
    const engine = await this.engine({ deferBuiltins: true });
    // clipanion leaves out the `--` that ends the options, as fast-dispatch.cts does.
    const result = await enterEnv(engine, this.env, this.command, { root: this.root });
    return result.exitCode;
  }
}
