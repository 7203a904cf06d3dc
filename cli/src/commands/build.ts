import { Command, Option } from 'clipanion';
import { build } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { reportBuild } from '../build-output.js';

export class BuildCommand extends BaseCommand {
  static override paths = [['build']];
  static override usage = Command.Usage({
    description: 'Build an environment from a manifest',
    details: 'Resolves the base image, installs the packages, writes `karapace.lock` next to the manifest and stores the environment under its env_id. Building an unchanged manifest again is instant.',
    examples: [
      ['Build ./karapace.toml', '$0 build'],
      ['Build and name it', '$0 build ./dev/karapace.toml --name dev'],
      ['Build exactly what the lock pins', '$0 build --locked'],
    ],
  });

  manifest = Option.String({ required: false, name: 'manifest' });
  name = Option.String('--name', { description: 'Name the environment (letters, digits, _ and -)' });
  locked = Option.Boolean('--locked', false, { description: 'Refuse to build when the manifest drifted from karapace.lock; install its exact versions' });
  offline = Option.Boolean('--offline', false, { description: 'Forbid downloads and container networking' });
  requirePinnedImage = Option.Boolean('--require-pinned-image', false, { description: 'Refuse a base image that is not pinned by digest' });

  async run(): Promise<number> {
    // Plugins load only when something must be built (a warm build answers from the lock).
    const engine = await this.engine({ deferBuiltins: true });
    const result = await build(engine, {
      manifest: this.manifest, name: this.name, locked: this.locked, offline: this.offline, requirePinnedImage: this.requirePinnedImage,
    });
    reportBuild(this.reporter, result);
    return 0;
  }
}
