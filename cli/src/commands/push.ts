import { Command, Option } from 'clipanion';
import { findEnv, pushEnvironment, UsageError, type Engine } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { reportPush } from '../remote-output.js';

export class PushCommand extends BaseCommand {
  static override paths = [['push']];
  static override usage = Command.Usage({
    description: 'Push an environment to a remote',
    details: 'Uploads the environment with its base image, so it can be pulled where the image source cannot be reached. Only blobs the remote lacks are sent; the tag is moved with compare-and-swap. The remote is a name from the config\'s `remotes`, or a URL: http(s):// for a karapace-server, oci:// or oci+http:// for an OCI registry. The token comes from --token-env, the remote\'s config, or KARAPACE_REMOTE_TOKEN, and is never printed.',
    examples: [
      ['Push "dev" as dev@latest to the default remote', '$0 push dev'],
      ['Push to a server as team/dev@v1', '$0 push dev dev@v1 --remote http://127.0.0.1:7890'],
      ['Push to an OCI registry', '$0 push dev dev@v1 --remote oci+http://127.0.0.1:5000/karapace'],
      ['Push with a tag, as the original Karapace CLI takes it', '$0 push dev --tag v1'],
    ],
  });

  env = Option.String({ name: 'env' });
  reference = Option.String({ required: false, name: 'name@tag' });
  tag = Option.String('--tag', { description: 'Tag to push as: `push dev --tag v1` is `push dev dev@v1`' });
  remote = Option.String('--remote', { description: 'Remote name from the config, or a URL (default: config defaultRemote)' });
  tokenEnv = Option.String('--token-env', { description: 'Environment variable holding the token (default: KARAPACE_REMOTE_TOKEN)' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await pushEnvironment(engine, { env: this.env, reference: await this.withTag(engine), remote: this.remote, tokenEnv: this.tokenEnv });
    reportPush(this.reporter, result);
    return 0;
  }

  /** The reference with --tag applied: to the given name, else to the env's name (or short id). */
  private async withTag(engine: Engine): Promise<string | undefined> {
    if (this.tag === undefined) return this.reference;
    if (this.reference?.includes('@')) {
      throw new UsageError('KP_PUSH_TAG_TWICE', `both ${this.reference} and --tag ${this.tag} name a tag`, { hint: 'give the tag once: `push dev dev@v1` or `push dev --tag v1`' });
    }
    const name = this.reference ?? (await findEnv(engine.layout, this.env).then((m) => (m.name ?? m.short_id).toLowerCase()));
    return `${name}@${this.tag}`;
  }
}
