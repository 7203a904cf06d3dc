/**
 * Joining a running sandbox (`karapace-sandbox --join`, decided under the env lock), through
 * the real CLI on a busybox rootfs, as root and as an unprivileged user with subordinate ids:
 * concurrent execs share one sandbox, a joined command outlives the first one, exit codes
 * pass through.
 */
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { buildEnv, envState, identitiesUnavailable, identity, manifest, processesMentioning, project, waitFor, type Project, type RunResult } from './harness.js';

const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime-namespace join tests skipped: ${missing}`);

const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
});

async function envFor(kind: 'root' | 'user'): Promise<{ p: Project; shortId: string; envId: string }> {
  const p = project(identity(kind));
  projects.push(p);
  p.mkdir('ws');
  p.write('karapace.toml', manifest(busyboxRootfs(), '[mounts]\nws = "./ws:/workspace"\n'));
  return { p, ...(await buildEnv(p)) };
}

const lines = (r: RunResult) => r.stdout.trim().split('\n');

for (const kind of ['root', 'user'] as const) {
  const t = missing ? test.skip : test;

  t(`${kind}: execs started together on an idle env share one sandbox and see each other's writes`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    // Each writes its mark, waits for the others' (up to 60 s: three CLIs starting on a loaded
    // CI machine), prints them and its pid namespace.
    const script = (me: string) =>
      `echo ${me} > /tmp/mark-${me}; i=0; while [ $(ls /tmp | grep -c '^mark-') -lt 3 ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; ` +
      `cat /tmp/mark-a /tmp/mark-b /tmp/mark-c; readlink /proc/self/ns/pid`;
    const runs = await Promise.all(['a', 'b', 'c'].map((me) => p.run(['exec', shortId, '--', 'sh', '-c', script(me)])));
    for (const r of runs) {
      tt.is(r.code, 0, r.stderr);
      tt.deepEqual(lines(r).slice(0, 3), ['a', 'b', 'c']);
    }
    tt.is(new Set(runs.map((r) => lines(r)[3])).size, 1, 'one pid namespace: one sandbox, one overlay mount');
    tt.false(runs.some((r) => r.stderr.includes('upperdir is in-use')));
  });

  t(`${kind}: a joined command outlives the first command; the env stops when the last one ends`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const ready = join(p.dir, 'ws/ready');
    // The first command ends only once the joined one runs beside it; the joined one only
    // once the test releases it, after the first exec has returned (no race with the clock).
    const first = p.run(['exec', shortId, '--', 'sh', '-c', 'readlink /proc/self/ns/pid > /workspace/first-ns; touch /workspace/ready; n=0; while [ ! -e /workspace/joined ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done; exit 3']);
    await waitFor('the first command', () => existsSync(ready));
    let joinedEnded = false;
    const joined = p.run(['exec', shortId, '--', 'sh', '-c', 'readlink /proc/self/ns/pid > /workspace/joined-ns; touch /workspace/joined; n=0; while [ ! -e /workspace/release ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done; echo alive > /workspace/survived; exit 9'])
      .finally(() => (joinedEnded = true));
    const firstResult = await first;
    tt.is(firstResult.code, 3, firstResult.stderr);
    tt.false(joinedEnded, 'the first exec returned without waiting for the joined one');
    tt.is(await envState(p, shortId), 'running', 'the sandbox stays for the joined command');
    writeFileSync(join(p.dir, 'ws/release'), '');
    const joinedResult = await joined;
    tt.is(joinedResult.code, 9, joinedResult.stderr);
    tt.is(readFileSync(join(p.dir, 'ws/survived'), 'utf8'), 'alive\n');
    tt.is(readFileSync(join(p.dir, 'ws/joined-ns'), 'utf8'), readFileSync(join(p.dir, 'ws/first-ns'), 'utf8'), 'it ran in the first sandbox');
    await waitFor('the sandbox to end', async () => (await envState(p, shortId)) !== 'running');
    tt.deepEqual(processesMentioning(join(p.store, 'env')), []);
  });

  t(`${kind}: a joined command's exit status and signal death pass through`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const ready = join(p.dir, 'ws/ready');
    // The first command keeps the sandbox until the joined ones are done.
    const first = p.run(['exec', shortId, '--', 'sh', '-c', 'touch /workspace/ready; n=0; while [ ! -e /workspace/release ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done']);
    await waitFor('the first command', () => existsSync(ready));
    const [seven, killed, missingCmd] = await Promise.all([
      p.run(['exec', shortId, '--', 'sh', '-c', 'exit 7']),
      p.run(['exec', shortId, '--', 'sh', '-c', 'kill -KILL $$']),
      p.run(['exec', shortId, '--', 'no-such-command']),
    ]).finally(() => writeFileSync(join(p.dir, 'ws/release'), ''));
    tt.is(seven.code, 7, seven.stderr);
    tt.is(killed.code, 137, killed.stderr);
    tt.is(missingCmd.code, 127, missingCmd.stderr);
    tt.is((await first).code, 0);
  });
}
