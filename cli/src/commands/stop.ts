import { Command, Option } from 'clipanion';
import { stopEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class StopCommand extends BaseCommand {
  static override paths = [['stop']];
  static override usage = Command.Usage({ description: 'Stop a running environment (SIGTERM, then SIGKILL after --timeout seconds)', examples: [['Stop', '$0 stop dev']] });

  env = Option.String({ name: 'env' });
  timeout = Option.String('--timeout', '10', { description: 'Seconds to wait after SIGTERM before SIGKILL' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await stopEnv(engine, this.env, Math.max(0, Number(this.timeout) || 0) * 1000);
    this.reporter.result(result, () => `stopped: ${result.env_id}`);
    return 0;
  }
}
