import { Command } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { runDoctor } from '../doctor/run.js';

const MARK = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

export class DoctorCommand extends BaseCommand {
  static override paths = [['doctor']];
  static override usage = Command.Usage({
    description: 'Check the host, the store and the configuration',
    details: 'Runs the core checks (store health, loaded config and plugins, user namespaces, overlay in a user namespace, newuidmap and subordinate ids, fuse-overlayfs, OCI runtimes, mmdebstrap, cgroup delegation) and every check plugins contribute. Each problem says how to fix it on Debian/Ubuntu, Fedora, openSUSE and Arch. Exits 1 when a required check fails.',
    examples: [['Check everything', '$0 doctor'], ['As JSON', '$0 doctor --json']],
  });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await runDoctor(engine);
    this.reporter.result({ ok: result.failed.length === 0, ...result }, () => {
      const lines: string[] = [];
      for (const c of result.checks) {
        lines.push(`[${MARK[c.status]}] ${c.title}${c.detail ? ` — ${c.detail}` : ''}${c.status !== 'ok' && !c.required ? ' (optional)' : ''}`);
        if (c.status !== 'ok' && c.fix) lines.push(...c.fix.split('\n').map((l) => `         ${l}`));
      }
      lines.push('', result.failed.length
        ? `${result.failed.length} required check(s) failed: ${result.failed.join(', ')}`
        : `all required checks passed${result.warnings.length ? ` (${result.warnings.length} warning(s))` : ''}`);
      return lines.join('\n');
    });
    return result.failed.length ? 1 : 0;
  }
}
