import { createInterface } from 'node:readline/promises';
import { relative } from 'node:path';
import { Command, Option } from 'clipanion';
import { loadConfig, defaultGlobalConfigDir } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';
import { availableTemplates, newProject, type NewOptions } from '../templates/scaffold.js';

export class NewCommand extends BaseCommand {
  static override paths = [['new']];
  static override usage = Command.Usage({
    description: 'Create a karapace.toml from a template',
    details: 'Writes `<name>/karapace.toml` (or into --dir) from a template: minimal, dev, gui-dev, rust-dev, ubuntu-dev, or any your config or presets add under "templates". On a terminal, without --template, it asks for the template, base image and packages. Refuses to overwrite an existing manifest without --force.',
    examples: [
      ['A Rust project', '$0 new myproject --template rust-dev'],
      ['Into the current directory', '$0 new dev --template dev --dir .'],
      ['List templates', '$0 new --list'],
    ],
  });

  name = Option.String({ required: false, name: 'name' });
  template = Option.String('--template,-t', { description: 'Template name (see --list)' });
  dir = Option.String('--dir', { description: 'Directory to write karapace.toml into (default: ./<name>)' });
  image = Option.String('--image', { description: 'Base image instead of the template\'s' });
  packages = Option.String('--packages', { description: 'Comma-separated system packages instead of the template\'s' });
  force = Option.Boolean('--force,-f', false, { description: 'Overwrite an existing karapace.toml' });
  list = Option.Boolean('--list', false, { description: 'List the available templates' });

  async run(): Promise<number> {
    const { config } = await loadConfig({ cwd: this.context.cwd, globalDir: defaultGlobalConfigDir(this.context.env) });
    const templates = availableTemplates(config);
    if (this.list || !this.name) {
      if (!this.list && !this.name) this.reporter.info('no name given: listing templates (create one with `karapace new <name>`)');
      this.reporter.result({ templates: templates.map(({ name, description }) => ({ name, description })) }, () =>
        templates.map((t) => `${t.name.padEnd(12)} ${t.description}`).join('\n'));
      return this.list ? 0 : 2;
    }
    let options: NewOptions = {
      name: this.name, template: this.template, dir: this.dir, image: this.image,
      packages: this.packages === undefined ? undefined : splitList(this.packages), force: this.force,
    };
    const stdin = this.context.stdin as NodeJS.ReadStream;
    if (!this.template && !this.json && stdin.isTTY) options = await this.prompt(options, templates.map((t) => t.name));
    const result = await newProject(this.context.cwd, config, options);
    const where = relative(this.context.cwd, result.manifest_path) || result.manifest_path;
    const dir = relative(this.context.cwd, result.manifest_path.replace(/\/karapace\.toml$/, ''));
    this.reporter.result(result, () =>
      `${result.overwritten ? 'overwrote' : 'created'} ${where} (template ${result.template})\nnext: ${dir ? `cd ${dir} && ` : ''}karapace build --name ${result.name}`);
    return 0;
  }

  private async prompt(options: NewOptions, names: string[]): Promise<NewOptions> {
    const rl = createInterface({ input: this.context.stdin, output: this.context.stderr });
    try {
      const template = (await rl.question(`template (${names.join(', ')}) [minimal]: `)).trim() || 'minimal';
      const image = (await rl.question('base image [template default]: ')).trim();
      const packages = (await rl.question('packages, comma-separated [template default]: ')).trim();
      return { ...options, template, ...(image ? { image } : {}), ...(packages ? { packages: splitList(packages) } : {}) };
    } finally {
      rl.close();
    }
  }
}

function splitList(text: string): string[] {
  return text.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
}
