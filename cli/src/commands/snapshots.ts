import { Command, Option } from 'clipanion';
import { listSnapshots, removeSnapshot, UsageError } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { table } from '../reporter.js';
import { formatBytes } from '../progress-bar.js';

/**
 * `snapshots ENV` lists; `snapshots rm ENV SNAPSHOT` removes. One class: the CLI loads one
 * command per first word (commands/lazy.ts).
 */
export class SnapshotsCommand extends BaseCommand {
  static override paths = [['snapshots']];
  static override usage = Command.Usage({
    description: 'List an environment\'s snapshots, oldest first; `snapshots rm ENV SNAPSHOT` removes one',
    details: 'SNAPSHOT is an index from the list, a layer hash or a unique prefix. Removing a snapshot frees the objects no other snapshot or environment uses (the rest stay for them); later snapshots are unaffected.',
    examples: [['List', '$0 snapshots dev'], ['Remove snapshot 2', '$0 snapshots rm dev 2']],
  });

  first = Option.String({ name: 'env' });
  env = Option.String({ required: false, name: 'env (with rm)' });
  snapshot = Option.String({ required: false, name: 'snapshot (with rm)' });

  async run(): Promise<number> {
    const engine = await this.engine();
    if (this.env !== undefined || this.snapshot !== undefined) {
      if (this.first !== 'rm' || this.env === undefined || this.snapshot === undefined) {
        throw new UsageError('KP_USAGE', `unexpected arguments: snapshots ${[this.first, this.env, this.snapshot].filter(Boolean).join(' ')}`, {
          hint: 'list with `karapace snapshots ENV`; remove with `karapace snapshots rm ENV SNAPSHOT`',
        });
      }
      const r = await removeSnapshot(engine, this.env, this.snapshot);
      this.reporter.result(r, () => {
        const what = `removed snapshot ${r.removed.index} of ${r.short_id} (layer ${r.removed.layer.slice(0, 12)})`;
        return r.freed.pending ? `${what}; nothing freed yet: ${r.freed.pending}` : `${what}; freed ${r.freed.objects} object(s), ${r.freed.bytes} bytes`;
      });
      return 0;
    }
    const r = await listSnapshots(engine, this.first);
    this.reporter.result(r, () =>
      r.snapshots.length === 0
        ? `no snapshots of ${r.short_id} (create one with \`karapace commit\`)`
        : table(['#', 'LAYER', 'CREATED', 'SIZE', 'MESSAGE'], r.snapshots.map((s) => [String(s.index), s.layer.slice(0, 12), s.created_at, s.size === null ? 'missing' : formatBytes(s.size), s.message ?? ''])),
    );
    return 0;
  }
}
