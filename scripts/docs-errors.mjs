// Writes docs/errors.md from the one error-code registry (kernel/src/errors-registry.ts).
// test/kernel/errors-registry.test.ts fails when the committed file differs.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { ERROR_CODES } = await import(join(root, 'kernel/dist/errors-registry.js'));

export function errorsMarkdown(codes) {
  const exitName = { 1: 'failure', 2: 'manifest or usage', 3: 'store' };
  const rows = Object.entries(codes).sort(([a], [b]) => a.localeCompare(b)).map(([code, { exit, meaning }]) => `| \`${code}\` | ${exit} (${exitName[exit]}) | ${meaning.replace(/\|/g, '\\|')} |`);
  return [
    '# Error codes',
    '',
    '<!-- Generated from kernel/src/errors-registry.ts by `node scripts/docs-errors.mjs`; do not edit.',
    '     test/kernel/errors-registry.test.ts fails when this file is out of date. -->',
    '',
    'Every error karapace raises on purpose carries a stable code, the exit code the CLI returns',
    'with it, and a hint saying what to do next. With `--json` the error is one JSON document on',
    'stderr: `{"error": {"code", "name", "message", "exitCode", "hint"?, "data"?}}`',
    '(docs/json-output.md). Plugins may raise codes of their own; these are karapace\'s.',
    '',
    '| code | exit | meaning |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(join(root, 'docs/errors.md'), errorsMarkdown(ERROR_CODES));
}
