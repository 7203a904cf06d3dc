/**
 * The native front door (native/front-door.c) on the real namespace backend, as root and as
 * an unprivileged user with subordinate ids: a fresh exec from the plan the Node path wrote
 * behaves as the Node path does (exit codes, signals, stdio, environment, ids, pid record);
 * after any change to what the plan was built from — config, env metadata (freeze), the
 * env's user database, a rebuilt manifest — the stale plan is never used (the change's
 * effect is seen); a running sandbox is joined through Node; other options and the switch
 * go to Node. `KARAPACE_FRONT_DOOR_DEBUG=1` makes the front door say when it hands over.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { CONFIG_FILE, buildEnv, envState, identitiesUnavailable, identity, manifest, project, waitFor, type Project } from './harness.js';
import { FRONT, HANDED_OVER, argvFor, frontDoorEnv, run, viaPlan } from './front-door-run.js';

const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable() ?? (existsSync(FRONT) ? undefined : 'native/build/karapace-front-door is not built');
if (missing) console.warn(`front door tests skipped: ${missing}`);

const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
});

async function envFor(kind: 'root' | 'user', extra = ''): Promise<{ p: Project; shortId: string }> {
  const p = project(identity(kind));
  projects.push(p);
  // An image as a tarball: no config plugin (the front door plans only for built-in plugins).
  const tar = join(p.dir, 'busybox.tar');
  const r = spawnSync('tar', ['-C', busyboxRootfs(), '-cf', tar, '.']);
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  chownSync(tar, p.who.uid, p.who.gid);
  p.write(CONFIG_FILE, '{}\n');
  p.write('karapace.toml', manifest('./busybox.tar', extra));
  return { p, ...(await buildEnv(p)) };
}

const PROBE = 'id -u; id -g; pwd; env | sort; cat; echo err >&2; exit 7';

for (const kind of ['root', 'user'] as const) {
  const t = missing ? test.skip : test;

  t(`${kind}: a front-door exec behaves as the Node path does (ids, cwd, environment, stdio, exit code, signal)`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const args = ['exec', shortId, '--', 'sh', '-c', PROBE];
    const first = await run(p, args, { input: 'from stdin\n' });
    tt.regex(first.node ?? '', /no usable plan/);
    const fast = await viaPlan(p, args);
    const viaNode = await run(p, args, { env: { KARAPACE_FRONT_DOOR: '0' }, input: '' });
    tt.truthy(viaNode.node, 'KARAPACE_FRONT_DOOR=0 hands every command to Node');
    const again = await run(p, args, { input: 'from stdin\n' });
    tt.is(again.node, undefined);
    for (const r of [first, again]) {
      tt.is(r.code, 7, r.stderr);
      tt.is(r.stderr, 'err');
    }
    tt.is(fast.code, viaNode.code);
    tt.is(fast.stdout, viaNode.stdout, 'same ids, working directory and environment');
    tt.is(again.stdout, `${first.stdout}`);
    tt.true(first.stdout.endsWith('from stdin\n'));
    tt.is(first.stdout.split('\n')[0], String(p.who.uid));

    const signalled = await viaPlan(p, ['exec', shortId, '--', 'sh', '-c', 'kill -TERM $$']);
    const signalledNode = await run(p, ['exec', shortId, '--', 'sh', '-c', 'kill -TERM $$'], { env: { KARAPACE_FRONT_DOOR: '0' } });
    tt.is(signalled.code, 143);
    tt.is(signalledNode.code, 143);
    const notFound = await viaPlan(p, ['exec', shortId, '--', 'no-such-command']);
    tt.is(notFound.code, 127);
    // enter with a command, as the Node path runs it.
    const entered = await viaPlan(p, ['enter', shortId, '--', 'sh', '-c', 'echo entered; exit 4']);
    tt.is(entered.code, 4);
    tt.is(entered.stdout, 'entered\n');
  });

  t(`${kind}: a stale plan is never used: config, metadata, the env's user database, a rebuilt manifest`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const show = ['exec', shortId, '--', 'sh', '-c', 'echo "FOO=$FOO"; touch /probe && echo writable; grep -c extra-user /etc/passwd; exit 0'];
    const before = await viaPlan(p, show);
    tt.is(before.stdout, 'FOO=\nwritable\n0\n');

    // Config: the policy lets FOO in.
    p.write(CONFIG_FILE, JSON.stringify({ security: { envAllow: ['TERM', 'LANG', 'FOO'] } }));
    const config = await run(p, show, { env: { FOO: 'bar' } });
    tt.regex(config.node ?? '', /\.karapacerc\.json changed|\$FOO/);
    tt.is(config.stdout, 'FOO=bar\nwritable\n0\n');
    const configPlan = await run(p, show, { env: { FOO: 'bar' } });
    tt.is(configPlan.node, undefined, 'the plan written by that Node run serves the next exec');
    tt.is(configPlan.stdout, 'FOO=bar\nwritable\n0\n');
    // The variable's value is an input too.
    const other = await run(p, show, { env: { FOO: 'baz' } });
    tt.truthy(other.node);
    tt.is(other.stdout, 'FOO=baz\nwritable\n0\n');

    // Metadata: frozen → read-only root.
    const frozen = await p.run(['freeze', shortId]);
    tt.is(frozen.code, 0, frozen.stderr);
    const ro = await run(p, show, { env: { FOO: 'baz' } });
    tt.truthy(ro.node);
    tt.regex(ro.stdout, /^FOO=baz\n0\n$/);
    tt.regex(ro.stderr, /Read-only file system/);
    const roPlan = await viaPlan(p, show);
    tt.regex(roPlan.stdout, /^FOO=\n0\n$/);
    tt.is((await p.run(['unfreeze', shortId])).code, 0);
    tt.regex((await run(p, show)).stdout, /writable/);

    // The env's own user database (its /etc/passwd in the upper dir) feeds the generated one.
    await viaPlan(p, show);
    const envDir = join(p.store, 'env', readdirSync(join(p.store, 'env')).find((d) => d.startsWith(shortId))!);
    const upperPasswd = join(envDir, 'upper/etc/passwd');
    const base = readFileSync(join(busyboxRootfs(), 'etc/passwd'), 'utf8');
    writeFileSync(upperPasswd, `${base}extra-user:x:4242:4242::/:/bin/sh\n`);
    const users = await run(p, show);
    tt.regex(users.node ?? '', /changed/);
    tt.regex(users.stdout, /\n1\n$/);

    // Manifest: rebuilt with network isolation (a new env); its exec sees only lo.
    p.write('karapace.toml', 'manifest_version = 1\n[base]\nimage = "./busybox.tar"\n[runtime]\nbackend = "namespace"\nnetwork_isolation = true\n');
    const rebuilt = await buildEnv(p);
    tt.not(rebuilt.shortId, shortId);
    const netProbe = ['sh', '-c', 'grep -c : /proc/net/dev'];
    const isolated = await viaPlan(p, ['exec', rebuilt.shortId, '--', ...netProbe]);
    tt.is(isolated.stdout.trim(), '1', 'only lo: the new manifest took effect');
  });

  t(`${kind}: a running sandbox is joined (through Node), and the front door's pid record lets list and stop see it`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const nsOf = ['exec', shortId, '--', 'readlink', '/proc/self/ns/pid'];
    await viaPlan(p, nsOf);
    // The store's running index exists from the first list on: from then, only a mark written
    // by whoever started a sandbox (here the front door) lets list see it.
    tt.is(await envState(p, shortId), 'built');
    tt.true(existsSync(join(p.store, 'running')));
    // A long command started by the front door itself (it runs until stopped: up to 10 min).
    const [cmd, ...rest] = argvFor(p, ['exec', shortId, '--', 'sh', '-c', 'readlink /proc/self/ns/pid > /tmp/ns; i=0; while [ $i -lt 6000 ]; do sleep 0.1; i=$((i+1)); done; exit 0'], frontDoorEnv(p));
    const long = spawn(cmd!, rest, { cwd: p.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let longErr = '';
    long.stderr.on('data', (c) => (longErr += c));
    const ended = new Promise<number>((resolve) => long.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
    tt.teardown(() => long.kill('SIGKILL'));
    // Running: a live sandbox record (records of earlier sandboxes name dead processes).
    await waitFor('the sandbox', async () => (await envState(p, shortId)) === 'running', 90_000);
    tt.true(readdirSync(join(p.store, 'running')).some((id) => id.startsWith(shortId)), 'the front door marked it');
    const joined = await run(p, ['exec', shortId, '--', 'cat', '/tmp/ns']);
    tt.truthy(joined.node, 'handed over: the plan is only for a fresh sandbox');
    const inside = await run(p, nsOf);
    tt.is(joined.stdout, inside.stdout, 'the joined command is in the running sandbox');
    const list = await p.run(['list', '--json']);
    tt.is(JSON.parse(list.stdout).environments.find((e: { short_id: string }) => e.short_id === shortId)?.state, 'running');
    const stop = await p.run(['stop', shortId]);
    tt.is(stop.code, 0, stop.stderr);
    tt.true((await ended) >= 128, longErr);
    tt.false(HANDED_OVER.test(longErr), 'the long command ran from the plan');
  });
}

(missing ? test.skip : test)('options the front door does not know, and command lines it does not serve, go to Node', async (tt) => {
  const { p, shortId } = await envFor('root');
  await viaPlan(p, ['exec', shortId, '--', 'echo', 'hi']);
  const json = await run(p, ['exec', '--json', shortId, '--', 'echo', 'hi']);
  tt.truthy(json.node);
  tt.deepEqual(JSON.parse(json.stdout), { exit_code: 0, stdout: 'hi\n', stderr: '' });
  const verbose = await run(p, ['-v', 'exec', shortId, '--', 'echo', 'hi']);
  tt.truthy(verbose.node);
  tt.is(verbose.stdout, 'hi\n');
  const root = await run(p, ['exec', '--root', shortId, '--', 'id', '-u']);
  tt.truthy(root.node);
  tt.is(root.stdout, '0\n');
  const version = await run(p, ['--version']);
  tt.truthy(version.node);
  tt.regex(version.stdout, /^\d+\.\d+\.\d+/);
  const missingEnv = await run(p, ['exec', 'no-such-env', '--', 'true']);
  tt.truthy(missingEnv.node);
  tt.is(missingEnv.code, 3);
  tt.regex(missingEnv.stderr, /no environment "no-such-env"/);
});

(missing ? test.skip : test)('user (full id mapping): the way to the image the owned base is keyed by is an input of the plan', async (tt) => {
  // The owned base's key names the image's rootfs by its real path (realpath(3), base-owners.ts):
  // every directory on the way is an input, so a change there makes the plan stale.
  const { p, shortId } = await envFor('user');
  const args = ['exec', shortId, '--', 'true'];
  await viaPlan(p, args);
  const images = join(p.store, 'images');
  chmodSync(images, statSync(images).mode & 0o7777 ^ 0o005);
  const changed = await run(p, args);
  tt.regex(changed.node ?? '', /stale|changed|no usable plan/, 'handed over to Node');
  tt.is(changed.code, 0, changed.stderr);
  tt.is((await viaPlan(p, args)).code, 0);
});
