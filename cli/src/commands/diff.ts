import { Command, Option } from 'clipanion';
import { diffEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { printable } from '../printable.js';

export class DiffCommand extends BaseCommand {
  static override paths = [['diff']];
  static override usage = Command.Usage({
    description: 'Show what changed in an environment since its last snapshot (or since the base image)',
    examples: [['Changes as JSON', '$0 diff dev --json']],
  });

  env = Option.String({ name: 'env' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await diffEnv(engine, this.env);
    this.reporter.result(r, () => {
      const lines = [...r.added.map((p) => `A ${printable(p)}`), ...r.modified.map((p) => `M ${printable(p)}`), ...r.removed.map((p) => `D ${printable(p)}`)].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1));
      return lines.length ? lines.join('\n') : `no changes since ${r.against}`;
    });
    return 0;
  }
}
