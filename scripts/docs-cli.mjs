#!/usr/bin/env node
// Writes docs/cli-reference.md from the registered command definitions (build cli first).
// --stdout prints it instead; --check exits 1 when the file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const { COMMANDS } = await import(`${root}cli/dist/commands/index.js`);
const { commandSpecs, BINARY_NAME } = await import(`${root}cli/dist/introspect.js`);
const { cliReference } = await import(`${root}cli/dist/man/markdown.js`);

const text = cliReference(commandSpecs(COMMANDS), BINARY_NAME);
const file = `${root}docs/cli-reference.md`;
if (process.argv.includes('--stdout')) process.stdout.write(text);
else if (process.argv.includes('--check')) {
  let current = '';
  try { current = readFileSync(file, 'utf8'); } catch { /* missing counts as stale */ }
  if (current !== text) {
    process.stderr.write('docs/cli-reference.md is out of date: run `npm run docs:cli -w cli`\n');
    process.exitCode = 1;
  }
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
}
