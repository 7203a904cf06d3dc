import { Command, Option } from 'clipanion';
import { unfreezeEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class UnfreezeCommand extends BaseCommand {
  static override paths = [['unfreeze']];
  static override usage = Command.Usage({
    description: 'Make a frozen environment writable again',
    examples: [['Unfreeze', '$0 unfreeze dev']],
  });

  env = Option.String({ name: 'env' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await unfreezeEnv(engine, this.env);
    this.reporter.result(r, () => `unfrozen: ${r.env_id} (writable)`);
    return 0;
  }
}
