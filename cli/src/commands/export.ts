import { Command, Option } from 'clipanion';
import { exportApps } from '@karapace/app-export';
import { BaseCommand } from '../base-command.js';

export { selfLauncher } from '../launcher.js';

export class ExportCommand extends BaseCommand {
  static override paths = [['export']];
  static override usage = Command.Usage({
    description: 'Export apps or binaries of an environment to the host',
    details: 'For an app with a desktop entry in the environment (`/usr/share/applications/<app>.desktop`), writes a desktop entry under $XDG_DATA_HOME/applications whose Exec enters the environment, with its icon copied out. For a binary, writes a wrapper script into ~/.local/bin (or --bin-dir). With no app named, exports the manifest\'s `[gui] apps` (which `build` also exports by itself). Exports are recorded in the store and removed by `unexport` and `destroy`.',
    examples: [
      ['Export the [gui] apps', '$0 export dev'],
      ['Export a desktop app', '$0 export dev gedit'],
      ['Export a binary', '$0 export dev rg --bin-dir ~/bin'],
    ],
  });

  env = Option.String({ name: 'env' });
  apps = Option.Rest({ name: 'app' });
  binDir = Option.String('--bin-dir', { description: 'Directory for wrapper scripts (default ~/.local/bin)' });
  force = Option.Boolean('--force,-f', false, { description: 'Replace host files karapace did not write' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await exportApps(engine, this.env, this.apps, { binDir: this.binDir, force: this.force });
    this.reporter.result(result, () =>
      result.exported.map((a) => `exported ${a.app} (${a.kind === 'desktop' ? 'desktop entry' : 'binary'}): ${a.files.join(', ')}`).join('\n'));
    return 0;
  }
}
