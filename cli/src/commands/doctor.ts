import { Command } from 'clipanion';
import { runDoctor } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

const MARK = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

export class DoctorCommand extends BaseCommand {
  static override paths = [['doctor']];
  static override usage = Command.Usage({
    description: 'Check the host, the store and the configuration',
    details: 'Runs the kernel\'s checks (store health, loaded config and plugins, default backend) and every check the loaded plugins contribute (the namespace backend: its launcher, user namespaces, overlay in a user namespace, fuse-overlayfs and whether `/dev/fuse` is usable by you (its mode named when it is not), newuidmap and subordinate ids, cgroup delegation; runtime-oci: its OCI runtimes; image-sources: xz, zstd, mmdebstrap and whether the mode it will pick works for you: root mode as root, else unshare mode, which needs your subordinate ranges in `/etc/subuid` and `/etc/subgid` and newuidmap). Each problem says how to fix it on Debian/Ubuntu, Fedora, openSUSE and Arch. A backend\'s checks are required when it is the default backend. Exits 1 when a required check fails.',
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
