import { Command, Option } from 'clipanion';
import { rebuildEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { exportLines } from '../build-output.js';

export class RebuildCommand extends BaseCommand {
  static override paths = [['rebuild']];
  static override usage = Command.Usage({
    description: 'Build the environment of a manifest again and replace the old one',
    details: 'Resolves the base image and package versions afresh (use `build --locked` to reproduce the lock instead). The new environment is built first; the old one is removed only once it exists, in one step under the store lock, so an interrupted rebuild leaves the old environment in place. The name is kept.',
    examples: [['Rebuild ./karapace.toml', '$0 rebuild']],
  });

  manifest = Option.String({ required: false, name: 'manifest' });
  name = Option.String('--name', { description: 'Name for the rebuilt environment' });
  offline = Option.Boolean('--offline', false, { description: 'Forbid downloads and container networking' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await rebuildEnv(engine, { manifest: this.manifest, name: this.name, offline: this.offline });
    const { previous } = result;
    this.reporter.result(result, () =>
      `rebuilt: ${result.env_id}${previous && previous !== result.env_id ? ` (was ${previous.slice(0, 12)})` : ''}\nshort_id: ${result.short_id}${result.name ? `  name: ${result.name}` : ''}` +
        (result.snapshots_kept ? `\nkept ${result.snapshots_kept} snapshot(s) of the previous environment (\`karapace snapshots ${result.name ?? result.short_id}\`; restore applies one over the fresh tree)` : '') +
        exportLines(result).map((l) => `\n${l}`).join(''),
    );
    return 0;
  }
}
