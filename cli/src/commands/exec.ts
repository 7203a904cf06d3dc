import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { execBody } from '../exec-body.js';

export class ExecCommand extends BaseCommand {
  static override paths = [['exec']];
  static override usage = Command.Usage({
    description: 'Run a command in an environment',
    details: 'Runs as the invoking user with stdio streamed; karapace exits with the command\'s status (128+n when killed by signal n).',
    examples: [['Run git', '$0 exec dev -- git --version'], ['Capture the output as JSON', '$0 exec dev --json -- make test'], ['Install a package as root inside', '$0 exec --root dev -- apt-get install -y jq']],
  });

  root = Option.Boolean('--root', false, { description: 'Run as root inside (uid 0 of the environment\'s user namespace, never host root)' });
  env = Option.String({ name: 'env' });
  // A proxy: options are ours until the first argument that is not one, or `--`; from there
  // every argument is the command's (`exec dev --json -- ls -l`, `exec dev ls --json`).
  // fast-dispatch.cts splits the same way (test/cli/fast-dispatch.test.ts).
  command = Option.Proxy({ required: 1, name: 'command' });

  run(): Promise<number> {
    return execBody(this.session, this.env, this.command, { root: this.root });
  }
}
