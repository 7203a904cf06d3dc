import { Command, Option } from 'clipanion';
import { listSnapshots } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { table } from '../reporter.js';

export class SnapshotsCommand extends BaseCommand {
  static override paths = [['snapshots']];
  static override usage = Command.Usage({ description: 'List an environment\'s snapshots, oldest first', examples: [['List', '$0 snapshots dev']] });

  env = Option.String({ name: 'env' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await listSnapshots(engine, this.env);
    this.reporter.result(r, () =>
      r.snapshots.length === 0
        ? `no snapshots of ${r.short_id} (create one with \`karapace commit\`)`
        : table(['#', 'LAYER', 'CREATED', 'SIZE', 'MESSAGE'], r.snapshots.map((s) => [String(s.index), s.layer.slice(0, 12), s.created_at, s.size === null ? 'missing' : String(s.size), s.message ?? ''])),
    );
    return 0;
  }
}
