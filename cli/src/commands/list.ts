import { Command } from 'clipanion';
import { listEnvs } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { table } from '../reporter.js';

export class ListCommand extends BaseCommand {
  static override paths = [['list'], ['ls']];
  static override usage = Command.Usage({ description: 'List environments', examples: [['List as JSON', '$0 list --json']] });

  async run(): Promise<number> {
    const engine = await this.engine();
    const { environments, corrupt } = await listEnvs(engine);
    for (const path of corrupt) engine.logger.warn(`skipped corrupt metadata ${path} (run \`karapace verify-store\`)`);
    this.reporter.result({ environments }, () =>
      environments.length === 0
        ? 'no environments (build one with `karapace build`)'
        : table(
            ['SHORT_ID', 'NAME', 'STATE', 'BACKEND', 'BASE', 'PKGS'],
            environments.map((e) => [e.short_id, e.name ?? '-', e.state, e.backend, e.base, String(e.packages)]),
          ),
    );
    return 0;
  }
}
