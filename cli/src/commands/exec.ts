import { Command, Option } from 'clipanion';
import { execInEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class ExecCommand extends BaseCommand {
  static override paths = [['exec']];
  static override usage = Command.Usage({
    description: 'Run a command in an environment',
    details: 'Runs as the invoking user with stdio streamed; karapace exits with the command\'s status (128+n when killed by signal n).',
    examples: [['Run git', '$0 exec dev -- git --version']],
  });

  env = Option.String({ name: 'env' });
  command = Option.Rest({ required: 1, name: 'command' });

  async run(): Promise<number> {
    // Only the environment's backend plugin is loaded (exec start-up time).
    const engine = await this.engine({ deferBuiltins: true });
    const argv = this.command[0] === '--' ? this.command.slice(1) : this.command;
    const result = await execInEnv(engine, this.env, argv, { capture: this.json });
    if (this.json) this.reporter.result({ exit_code: result.exitCode, stdout: result.stdout ?? '', stderr: result.stderr ?? '' }, () => '');
    return result.exitCode;
  }
}
