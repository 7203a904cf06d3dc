import { Command } from 'clipanion';
import { migrateStore } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class MigrateCommand extends BaseCommand {
  static override paths = [['migrate']];
  static override usage = Command.Usage({ description: 'Report the store format version and migrate it when needed', examples: [['Check', '$0 migrate']] });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await migrateStore(engine);
    this.reporter.result(r, () => r.message);
    return 0;
  }
}
