import { Command, Option } from 'clipanion';
import { gcStore } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { formatBytes } from '../progress-bar.js';

export class GcCommand extends BaseCommand {
  static override paths = [['gc']];
  static override usage = Command.Usage({
    description: 'Remove layers, objects, images and leftovers no environment references',
    details: 'Every environment (running, frozen and archived ones included) keeps what it references. `--dry-run` prints the same report without deleting. Ctrl-C stops between two deletions and leaves the store consistent.',
    examples: [['See what would go', '$0 gc --dry-run']],
  });

  dryRun = Option.Boolean('--dry-run', false, { description: 'Report only' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await gcStore(engine, { dryRun: this.dryRun });
    this.reporter.result(r, () => {
      const verb = r.dry_run ? 'would remove' : 'removed';
      const lines = r.removed.map((c) => `${verb} ${c.kind} ${c.id}`);
      for (const c of r.kept) lines.push(`kept by a plugin: ${c.kind} ${c.id}`);
      lines.push(`${verb} ${r.removed.length} item(s), ${formatBytes(r.freed_bytes)} of objects${r.interrupted ? ' (interrupted: run gc again to finish)' : ''}`);
      return lines.join('\n');
    });
    if (!r.interrupted) return 0;
    // On stderr in both modes: --json keeps stdout one document, and a script sees why it stopped.
    this.context.stderr.write(
      `gc: interrupted by ${r.signal ?? 'a signal'} between two deletions; ${r.removed.length} item(s) removed, ${r.remaining} left. `
      + 'The store is consistent; run `karapace gc` again to finish.\n',
    );
    return r.signal === 'SIGTERM' ? 143 : 130;
  }
}
