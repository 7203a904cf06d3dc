import { Command, Option } from 'clipanion';
import { destroyEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { printable } from '../printable.js';

export class DestroyCommand extends BaseCommand {
  static override paths = [['destroy'], ['rm']];
  static override usage = Command.Usage({ description: 'Destroy an environment (its upper dir and metadata)', examples: [['Destroy by name', '$0 destroy dev']] });

  env = Option.String({ name: 'env' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await destroyEnv(engine, this.env);
    this.reporter.result({ destroyed: result }, () => `destroyed: ${result.env_id}${result.name ? ` (${printable(result.name)})` : ''}`);
    return 0;
  }
}
