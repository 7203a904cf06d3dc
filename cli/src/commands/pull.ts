import { Command, Option } from 'clipanion';
import { pullEnvironment } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { reportPull } from '../remote-output.js';

export class PullCommand extends BaseCommand {
  static override paths = [['pull']];
  static override usage = Command.Usage({
    description: 'Pull an environment from a remote',
    details: 'Downloads the environment and its base image, checks every blob\'s hash before it enters the store, and leaves the store unchanged when anything fails. The remote and token are chosen as for `push`.',
    examples: [
      ['Pull dev@latest from the default remote', '$0 pull dev'],
      ['Pull a tag from a server and name it', '$0 pull dev@v1 --remote http://127.0.0.1:7890 --name dev'],
      ['Pull by digest', '$0 pull dev@blake3:<digest> --remote team'],
    ],
  });

  reference = Option.String({ name: 'name@tag' });
  name = Option.String('--name', { description: 'Local name for the pulled environment' });
  remote = Option.String('--remote', { description: 'Remote name from the config, or a URL (default: config defaultRemote)' });
  tokenEnv = Option.String('--token-env', { description: 'Environment variable holding the token (default: KARAPACE_REMOTE_TOKEN)' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await pullEnvironment(engine, { reference: this.reference, name: this.name, remote: this.remote, tokenEnv: this.tokenEnv });
    reportPull(this.reporter, result);
    return 0;
  }
}
