import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/cli.js';

test('docs/cli-reference.md is what the command definitions generate (npm run docs:cli -w cli)', (t) => {
  const r = spawnSync(process.execPath, [join(REPO, 'scripts/docs-cli.mjs'), '--stdout'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const committed = readFileSync(join(REPO, 'docs/cli-reference.md'), 'utf8');
  t.true(r.stdout.includes('## karapace doctor'));
  t.is(committed, r.stdout, 'docs/cli-reference.md is stale: run `npm run docs:cli -w cli`');
});
