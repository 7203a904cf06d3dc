/** docs/cli-reference.md, rendered from the command specs (see `npm run docs:cli -w cli`). */
import type { CommandSpec, OptionSpec } from '../introspect.js';
import { GLOBAL_OPTIONS } from '../introspect.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function optionName(o: OptionSpec): string {
  return '`' + o.names.join('`, `') + '`' + (o.takesValue ? ' *value*' : '');
}

function anchor(spec: CommandSpec): string {
  return `karapace-${spec.path.join('-')}`;
}

export function cliReference(specs: CommandSpec[], bin = 'karapace'): string {
  const globals = specs[0]?.options.filter((o) => o.names.some((n) => GLOBAL_OPTIONS.has(n))) ?? [];
  const out: string[] = [
    '# CLI reference',
    '',
    '<!-- Generated from the registered command definitions by `npm run docs:cli -w cli`; do not edit.',
    '     test/cli/cli-reference.test.ts fails when this file is out of date. -->',
    '',
    'An environment (`<env>`) is named by its env_id, short_id, a unique id prefix, or its name.',
    'Exit codes: 0 ok, 1 failure, 2 manifest or usage error, 3 store error; `exec` and `enter`',
    'exit with the command\'s own status. Man pages: `karapace man-pages <dir>`.',
    '',
    '| command | description |',
    '|---|---|',
    ...specs.map((s) => `| [\`${bin} ${s.path.join(' ')}\`](#${anchor(s)}) | ${cell(s.description)} |`),
    '',
    '## Global options',
    '',
    'Every command takes these:',
    '',
    '| option | description |',
    '|---|---|',
    ...globals.map((o) => `| ${optionName(o)} | ${cell(o.description)} |`),
    '',
  ];
  for (const s of specs) {
    out.push(`## ${bin} ${s.path.join(' ')}`, '', s.description, '', '```', s.usage, '```', '');
    if (s.details) out.push(s.details, '');
    const aliases = s.aliases.filter((a) => a.join(' ') !== s.path.join(' '));
    if (aliases.length) out.push(`Aliases: ${aliases.map((a) => `\`${bin} ${a.join(' ')}\``).join(', ')}`, '');
    const own = s.options.filter((o) => !o.names.some((n) => GLOBAL_OPTIONS.has(n)));
    if (own.length) {
      out.push('| option | description |', '|---|---|', ...own.map((o) => `| ${optionName(o)} | ${cell(o.description)} |`), '');
    }
    if (s.examples.length) {
      out.push('Examples:', '');
      for (const e of s.examples) out.push(`- ${e.description}: \`${e.command}\``);
      out.push('');
    }
  }
  return out.join('\n');
}
