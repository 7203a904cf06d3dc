import { Command, Option } from 'clipanion';
import { inspectEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { printable } from '../printable.js';

export class InspectCommand extends BaseCommand {
  static override paths = [['inspect']];
  static override usage = Command.Usage({ description: 'Show an environment\'s metadata', examples: [['Inspect by name', '$0 inspect dev']] });

  env = Option.String({ name: 'env' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const meta = await inspectEnv(engine, this.env);
    const fields: [string, string][] = [
      ['env_id', meta.env_id],
      ['short_id', meta.short_id],
      ['name', meta.name ?? '-'],
      ['state', meta.state],
      ['backend', meta.backend],
      ['base', `${meta.base.reference} (${meta.base.digest.slice(0, 16)}…)`],
      ['packages', meta.lock.resolved_packages.map((p) => `${p.name}=${p.version}`).join(', ') || '-'],
      ['mounts', meta.manifest.mounts.map((m) => `${m.label}=${m.host}:${m.container}${m.readOnly ? ':ro' : ''}`).join(', ') || '-'],
      ['network', meta.manifest.runtime.network_isolation ? 'isolated' : 'host'],
      ['snapshots', String(meta.snapshots.length)],
      ['manifest', meta.manifest_path],
      ['created', meta.created_at],
    ];
    // Each value on its own line, whatever it holds (metadata may come from a remote).
    this.reporter.result(meta, () => fields.map(([k, v]) => `${`${k}:`.padEnd(12)}${printable(v)}`).join('\n'));
    return 0;
  }
}
