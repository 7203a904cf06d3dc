import { Command, Option } from 'clipanion';
import { archiveEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class ArchiveCommand extends BaseCommand {
  static override paths = [['archive']];
  static override usage = Command.Usage({
    description: 'Archive a frozen environment: kept (gc keeps it), but it can no longer be entered',
    details: '`karapace unarchive` brings it back, frozen.',
    examples: [['Archive', '$0 archive dev']],
  });

  env = Option.String({ name: 'env' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await archiveEnv(engine, this.env);
    this.reporter.result(r, () => `archived: ${r.env_id} (\`karapace unarchive ${this.env}\` to use it again)`);
    return 0;
  }
}
