import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';

/** Dotted key paths of a merged config and their values (plugins listed one per entry). */
function flatten(config: Record<string, unknown>, prefix = ''): [path: string, value: unknown][] {
  const out: [string, unknown][] = [];
  for (const [key, value] of Object.entries(config)) {
    const path = `${prefix}${key}`;
    if (key === 'plugins' && !prefix && Array.isArray(value)) {
      for (const spec of value) out.push([`plugins.${Array.isArray(spec) ? spec[0] : spec}`, Array.isArray(spec) ? spec[1] ?? {} : {}]);
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0) {
      out.push(...flatten(value as Record<string, unknown>, `${path}.`));
    } else {
      out.push([path, value]);
    }
  }
  return out;
}

export class ConfigCommand extends BaseCommand {
  static override paths = [['config']];
  static override usage = Command.Usage({
    description: 'Print the merged configuration and where each value came from',
    details: 'Merges the user-global config file, the project file and their presets (`extends`) the way every command does, and prints each value as `key = value` (plugins as `plugins.<module> = <options>`). `--show-origin` adds the file that set each value; `--json` prints `{ config, sources, origins }`. Plugins are not loaded, so this works while a plugin is broken.',
    examples: [['The merged config', '$0 config'], ['With the file behind each value', '$0 config --show-origin'], ['As JSON', '$0 config --json']],
  });

  showOrigin = Option.Boolean('--show-origin', false, { description: 'Prefix each value with the file that set it' });

  async run(): Promise<number> {
    const engine = await this.engine({ deferBuiltins: true });
    const config = engine.config as Record<string, unknown>;
    const origins = engine.configOrigins;
    this.reporter.result({ config, sources: engine.configSources, origins }, () => {
      if (engine.configSources.length === 0) return 'no config file: built-in defaults';
      const lines = flatten(config).map(([path, value]) => {
        const line = `${path} = ${JSON.stringify(value)}`;
        return this.showOrigin ? `${origins[path] ?? '(merged)'}\t${line}` : line;
      });
      return [...lines, '', `files (lowest priority first): ${engine.configSources.join(', ')}`].join('\n');
    });
    return 0;
  }
}
