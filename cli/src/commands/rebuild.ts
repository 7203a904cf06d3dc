import { Command, Option } from 'clipanion';
import { build, destroyEnv, manifestPathFrom, readLock, LOCK_FILE_NAME, findEnv } from '@karapace/kernel';
import { dirname, join } from 'node:path';
import { BaseCommand } from '../base-command.js';

export class RebuildCommand extends BaseCommand {
  static override paths = [['rebuild']];
  static override usage = Command.Usage({
    description: 'Destroy the environment built from a manifest and build it again',
    details: 'Resolves the base image and package versions afresh (use `build --locked` to reproduce the lock instead). The name is kept.',
    examples: [['Rebuild ./karapace.toml', '$0 rebuild']],
  });

  manifest = Option.String({ required: false, name: 'manifest' });
  name = Option.String('--name', { description: 'Name for the rebuilt environment' });
  offline = Option.Boolean('--offline', false, { description: 'Forbid downloads and container networking' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const manifestPath = manifestPathFrom(engine.cwd, this.manifest);
    const lock = readLock(join(dirname(manifestPath), LOCK_FILE_NAME));
    let name = this.name;
    let previous: string | undefined;
    if (lock) {
      const old = await findEnv(engine.layout, lock.env_id).catch(() => undefined);
      if (old) {
        name ??= old.name;
        previous = old.env_id;
        await destroyEnv(engine, old.env_id);
      }
    }
    const result = await build(engine, { manifest: manifestPath, name, offline: this.offline, force: true });
    this.reporter.result({ ...result, previous: previous ?? null }, () =>
      `rebuilt: ${result.env_id}${previous && previous !== result.env_id ? ` (was ${previous.slice(0, 12)})` : ''}\nshort_id: ${result.short_id}${result.name ? `  name: ${result.name}` : ''}`,
    );
    return 0;
  }
}
