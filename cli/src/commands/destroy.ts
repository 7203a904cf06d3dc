import { Command, Option } from 'clipanion';
import { destroyEnv } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { printable } from '../printable.js';

export class DestroyCommand extends BaseCommand {
  static override paths = [['destroy'], ['rm']];
  static override usage = Command.Usage({
    description: 'Destroy an environment (its upper dir and metadata, and its own home unless --keep-home)',
    details: 'An environment with `[runtime] home = "env"` has a home of its own in the store; destroy removes it with the environment unless `--keep-home` is given (a later environment with the same name then gets it back). The previous environment a `build` moved the name from has no claim on that home: destroying it leaves the home alone.',
    examples: [['Destroy by name', '$0 destroy dev'], ['Destroy, keeping its home for the next env named dev', '$0 destroy dev --keep-home']],
  });

  env = Option.String({ name: 'env' });
  keepHome = Option.Boolean('--keep-home', false, { description: 'Keep the environment\'s own home (`[runtime] home = "env"`)' });

  async run(): Promise<number> {
    const engine = await this.engine();
    const result = await destroyEnv(engine, this.env, { keepHome: this.keepHome });
    this.reporter.result({ destroyed: result }, () => {
      const home = result.home ? `\n${result.home.removed ? 'removed its home' : 'kept its home'} ${printable(result.home.path)}` : '';
      return `destroyed: ${result.env_id}${result.name ? ` (${printable(result.name)})` : ''}${home}`;
    });
    return 0;
  }
}
