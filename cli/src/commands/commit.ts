import { Command, Option } from 'clipanion';
import { commitEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { reportCommit } from '../snapshot-output.js';

export class CommitCommand extends BaseCommand {
  static override paths = [['commit']];
  static override usage = Command.Usage({
    description: 'Snapshot an environment: pack its upper dir into a layer, recorded in its snapshots',
    details: 'Deletions are kept as OCI whiteouts. Only file contents the store lacks are stored; an upper dir identical to the last snapshot adds no snapshot. The environment must not be running.',
    examples: [['Snapshot with a message', '$0 commit dev -m "before upgrade"']],
  });

  env = Option.String({ name: 'env' });
  message = Option.String('--message,-m', { description: 'A note stored with the snapshot' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await commitEnv(engine, this.env, { message: this.message });
    reportCommit(this.reporter, r);
    return 0;
  }
}
