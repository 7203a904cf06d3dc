import { Command, Option } from 'clipanion';
import { UsageError } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { BINARY_NAME, commandSpecs } from '../introspect.js';
import { completionScript, SHELLS, type Shell } from '../completions/index.js';
import { completionEnvs } from '../completions/envs.js';

export class CompletionsCommand extends BaseCommand {
  static override paths = [['completions']];
  static override usage = Command.Usage({
    description: 'Print a shell completion script (bash, zsh or fish)',
    details: 'The script is generated from the registered commands, so it completes exactly the commands, aliases and flags this karapace has, plus environment names and ids. `--envs` prints the names and short ids the scripts complete with.',
    examples: [
      ['Enable bash completion', '$0 completions bash > ~/.local/share/bash-completion/completions/karapace'],
      ['Enable zsh completion', '$0 completions zsh > "${fpath[1]}/_karapace"'],
      ['Enable fish completion', '$0 completions fish > ~/.config/fish/completions/karapace.fish'],
    ],
  });
  static completion = { shell: [...SHELLS] };

  shell = Option.String({ required: false, name: 'shell' });
  envs = Option.Boolean('--envs', false, { description: 'Print environment names and short ids, one per line (used by the scripts)' });

  async run(): Promise<number> {
    if (this.envs) {
      const words = await completionEnvs({ cwd: this.context.cwd, env: this.context.env, store: this.store });
      this.reporter.result({ environments: words }, () => words.join('\n'));
      return 0;
    }
    if (!this.shell || !(SHELLS as readonly string[]).includes(this.shell)) {
      throw new UsageError('KP_COMPLETIONS_SHELL', this.shell ? `unsupported shell "${this.shell}"` : 'no shell named', {
        hint: `pass one of: ${SHELLS.join(', ')} (e.g. \`karapace completions bash\`)`,
      });
    }
    // Loaded here, not at module level: commands/index.ts imports this file.
    const { COMMANDS } = await import('./index.js');
    const script = completionScript(this.shell as Shell, commandSpecs(COMMANDS), BINARY_NAME);
    this.reporter.result({ shell: this.shell, script }, () => script);
    return 0;
  }
}
