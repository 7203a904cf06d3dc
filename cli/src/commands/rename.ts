import { Command, Option } from 'clipanion';
import { renameEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class RenameCommand extends BaseCommand {
  static override paths = [['rename']];
  static override usage = Command.Usage({ description: 'Rename an environment', examples: [['Name an environment', '$0 rename 3f2a9c dev']] });

  env = Option.String({ name: 'env' });
  name = Option.String({ name: 'new-name' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await renameEnv(engine, this.env, this.name);
    this.reporter.result(result, () => `renamed ${result.short_id}${result.previous ? ` from ${result.previous}` : ''} to ${result.name}`);
    return 0;
  }
}
