import { Command, Option } from 'clipanion';
import { pinManifest } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class PinCommand extends BaseCommand {
  static override paths = [['pin']];
  static override usage = Command.Usage({
    description: 'Pin the manifest\'s base image to an exact, verifiable reference',
    details: 'Resolves `[base] image` and rewrites it to a reference that names exactly that image: `…#sha256=<archive digest>` for URLs and aliases, `…#blake3=` for local tarballs, directories and bootstraps, `host/repo:tag@sha256:<manifest digest>` for registries. `--check` changes nothing and fails (exit 2) when the base is not pinned; `--write-lock` also moves karapace.lock to the pinned reference.',
    examples: [
      ['Pin ./karapace.toml', '$0 pin'],
      ['Fail in CI when the base is not pinned', '$0 pin --check'],
      ['Pin and update the lock', '$0 pin --write-lock'],
    ],
  });

  manifest = Option.String({ required: false, name: 'manifest' });
  check = Option.Boolean('--check', false, { description: 'Only check that the base is pinned (and the lock agrees); exit 2 when not' });
  writeLock = Option.Boolean('--write-lock', false, { description: 'Also rewrite karapace.lock\'s base to the pinned reference' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await pinManifest(engine, { manifest: this.manifest, check: this.check, writeLock: this.writeLock });
    this.reporter.result(result, () =>
      [
        this.check ? `pinned: ${result.after}` : result.changed ? `pinned: ${result.before}\n    -> ${result.after}` : `already pinned: ${result.after}`,
        ...(result.digest ? [`digest: ${result.digest}`] : []),
        ...(result.lock_updated ? [`lock: ${result.lock_path} updated`] : []),
      ].join('\n'),
    );
    return 0;
  }
}
