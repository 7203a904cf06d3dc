import { Command, Option } from 'clipanion';
import { unarchiveEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class UnarchiveCommand extends BaseCommand {
  static override paths = [['unarchive']];
  static override usage = Command.Usage({
    description: 'Bring an archived environment back: it can be entered again, still frozen (read-only)',
    examples: [['Unarchive, then make it writable', '$0 unarchive dev && $0 unfreeze dev']],
  });

  env = Option.String({ name: 'env' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await unarchiveEnv(engine, this.env);
    this.reporter.result(r, () => `unarchived: ${r.env_id} (frozen; \`karapace unfreeze ${this.env}\` to write)`);
    return 0;
  }
}
