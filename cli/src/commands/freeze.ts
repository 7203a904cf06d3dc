import { Command, Option } from 'clipanion';
import { freezeEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class FreezeCommand extends BaseCommand {
  static override paths = [['freeze']];
  static override usage = Command.Usage({
    description: 'Freeze an environment: it can still be entered, but nothing may write to it',
    examples: [['Freeze', '$0 freeze dev']],
  });

  env = Option.String({ name: 'env' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await freezeEnv(engine, this.env);
    this.reporter.result(r, () => `frozen: ${r.env_id}`);
    return 0;
  }
}
