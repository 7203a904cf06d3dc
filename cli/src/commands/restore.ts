import { Command, Option } from 'clipanion';
import { restoreEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { reportRestore } from '../snapshot-output.js';

export class RestoreCommand extends BaseCommand {
  static override paths = [['restore']];
  static override usage = Command.Usage({
    description: 'Restore an environment\'s upper dir from a snapshot (atomic swap)',
    details: 'SNAPSHOT is an index from `karapace snapshots`, a layer hash or a unique prefix; the latest snapshot by default. Uncommitted changes are discarded.',
    examples: [['Restore the latest snapshot', '$0 restore dev'], ['Restore snapshot 2', '$0 restore dev 2']],
  });

  env = Option.String({ name: 'env' });
  snapshot = Option.String({ name: 'snapshot', required: false });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await restoreEnv(engine, this.env, this.snapshot);
    reportRestore(this.reporter, engine.logger, r);
    return 0;
  }
}
