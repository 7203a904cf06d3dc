/**
 * native/test.sh (the launcher's own TAP suite: namespaces, mounts, ids, signals, network
 * isolation, --fake-chown) run as part of `npm test`, as root and as an unprivileged user.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from '../helpers/cli.js';
import { identitiesUnavailable, identity } from '../plugins/runtime-namespace/harness.js';

function tap(argv: string[]): { plan: string; failed: string[]; passed: number; output: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 240_000 });
  const lines = (r.stdout ?? '').split('\n');
  return {
    plan: lines.find((l) => /^1\.\.\d+/.test(l)) ?? '',
    failed: lines.filter((l) => l.startsWith('not ok')),
    passed: lines.filter((l) => /^ok \d+/.test(l) && !/# SKIP/.test(l)).length,
    output: `${r.stdout}\n${r.stderr}`,
  };
}

const script = join(REPO, 'native', 'test.sh');

test('the launcher TAP suite passes as root', (t) => {
  const r = tap(['sh', script]);
  t.false(/# SKIP need/.test(r.output), 'the suite ran (needs native/build and busybox-static)');
  t.deepEqual(r.failed, [], r.output);
  t.true(r.passed >= 25, r.output);
});

const skip = identitiesUnavailable();
(skip ? test.skip : test)('the launcher TAP suite passes as an unprivileged user', (t) => {
  const user = identity('user');
  const r = tap(['runuser', '-u', user.name, '--', 'sh', script]);
  t.false(/# SKIP need/.test(r.output), 'the suite ran');
  t.deepEqual(r.failed, [], r.output);
  t.true(r.passed >= 15, r.output);
});
