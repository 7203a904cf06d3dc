import { Command, Option } from 'clipanion';
import { unexportApps } from '@karapace/app-export';
import { BaseCommand } from '../base-command.js';

export class UnexportCommand extends BaseCommand {
  static override paths = [['unexport']];
  static override usage = Command.Usage({
    description: 'Remove apps or binaries exported from an environment',
    details: 'Removes the desktop entries, icons and wrapper scripts `karapace export` wrote (all of them when no app is named).',
    examples: [['Remove one', '$0 unexport dev gedit'], ['Remove everything dev exported', '$0 unexport dev']],
  });

  env = Option.String({ name: 'env' });
  apps = Option.Rest({ name: 'app' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await unexportApps(engine, this.env, this.apps);
    this.reporter.result(result, () => (result.removed.length ? `unexported: ${result.removed.join(', ')}` : 'nothing was exported'));
    return 0;
  }
}
