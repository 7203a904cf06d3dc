import { Command, Option } from 'clipanion';
import { pushEnvironment } from '@karapace/remote-http';
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
    ],
  });

  env = Option.String({ name: 'env' });
  reference = Option.String({ required: false, name: 'name@tag' });
  remote = Option.String('--remote', { description: 'Remote name from the config, or a URL (default: config defaultRemote)' });
  tokenEnv = Option.String('--token-env', { description: 'Environment variable holding the token (default: KARAPACE_REMOTE_TOKEN)' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await pushEnvironment(engine, { env: this.env, reference: this.reference, remote: this.remote, tokenEnv: this.tokenEnv });
    reportPush(this.reporter, result);
    return 0;
  }
}
