import { Command, Option } from 'clipanion';
import { freezeEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class FreezeCommand extends BaseCommand {
  static override paths = [['freeze']];
  static override usage = Command.Usage({
    description: 'Freeze an environment: it can still be entered, but its root is read-only and commit/restore are refused',
    details: 'On the namespace and oci backends the root is mounted read-only; the mock backend runs on the host and cannot enforce it. `karapace unfreeze` makes it writable again.',
    examples: [['Freeze', '$0 freeze dev']],
  });

  env = Option.String({ name: 'env' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await freezeEnv(engine, this.env);
    this.reporter.result(r, () => `frozen: ${r.env_id} (read-only; \`karapace unfreeze ${this.env}\` to write again)`);
    return 0;
  }
}
