/**
 * The namespace backend end to end, through the real CLI, on a busybox rootfs, as root and
 * as an unprivileged user: ids, overlay writes, workspace mounts, the mount policy, network
 * isolation, exit codes, signals, reaping, stop/status.
 */
import test from 'ava';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { CONFIG_FILE, DIR_IMAGE_PLUGIN, buildEnv, childrenOf, identitiesUnavailable, identity, manifest, processesMentioning, project, waitFor, type Identity, type Project } from './harness.js';

const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime-namespace sandbox tests skipped: ${missing}`);

interface Ctx {
  p: Project;
  shortId: string;
  upper: string;
}

const contexts = new Map<string, Promise<Ctx>>();
const projects: Project[] = [];

/** One built environment per identity, shared by that identity's tests. */
function envFor(kind: 'root' | 'user'): Promise<Ctx> {
  let ctx = contexts.get(kind);
  if (!ctx) {
    ctx = (async () => {
      const who = identity(kind);
      const p = project(who);
      projects.push(p);
      p.mkdir('ws');
      p.write('karapace.toml', manifest(busyboxRootfs(), '[mounts]\nws = "./ws:/workspace"\n'));
      const { shortId, envId } = await buildEnv(p);
      return { p, shortId, upper: join(p.store, 'env', envId, 'upper') };
    })();
    contexts.set(kind, ctx);
  }
  return ctx;
}

let server: Server | undefined;
let port = 0;
test.before(async () => {
  if (missing) return;
  server = createServer((_req, res) => res.end('host-listener-reached\n'));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

test.after.always(() => {
  server?.close();
  for (const p of projects) p.cleanup();
});

for (const kind of ['root', 'user'] as const) {
  // Serial: each identity's tests share one environment, and a concurrent exec would join
  // another test's sandbox (tested explicitly below).
  const t = missing ? test.skip : test.serial;

  t(`${kind}: exec runs as the invoking user (uid, gid, name, home)`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const who: Identity = p.who;
    const r = await p.run(['exec', shortId, '--', 'sh', '-c', 'id -u; id -g; whoami; echo $HOME; pwd']);
    tt.is(r.code, 0, r.stderr);
    tt.deepEqual(r.stdout.trim().split('\n'), [String(who.uid), String(who.gid), who.name, who.home, who.home]);
  });

  t(`${kind}: writes inside land in the env's upper dir, not in the image`, async (tt) => {
    const { p, shortId, upper } = await envFor(kind);
    const r = await p.run(['exec', shortId, '--', 'sh', '-c', `echo from-${kind} > /tmp/marker && cat /tmp/marker`]);
    tt.is(r.code, 0, r.stderr);
    tt.is(readFileSync(join(upper, 'tmp/marker'), 'utf8'), `from-${kind}\n`);
    tt.false(existsSync(join(busyboxRootfs(), 'tmp/marker')));
  });

  t(`${kind}: a file written to the workspace mount is the user's on the host`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const r = await p.run(['exec', shortId, '--', 'sh', '-c', 'echo data > /workspace/out.txt']);
    tt.is(r.code, 0, r.stderr);
    const file = join(p.dir, 'ws/out.txt');
    tt.is(readFileSync(file, 'utf8'), 'data\n');
    tt.is(statSync(file).uid, p.who.uid);
    tt.is(statSync(file).gid, p.who.gid);
  });

  t(`${kind}: the command's exit status comes back (128+n when killed)`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    tt.is((await p.run(['exec', shortId, '--', 'sh', '-c', 'exit 7'])).code, 7);
    tt.is((await p.run(['exec', shortId, '--', 'sh', '-c', 'kill -KILL $$'])).code, 137);
    const notFound = await p.run(['exec', shortId, '--', '/no/such/command']);
    tt.is(notFound.code, 127);
  });

  t(`${kind}: stdin and stdout are streamed`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const r = await p.run(['exec', shortId, '--', 'tr', 'a-z', 'A-Z'], { input: 'hello sandbox\n' });
    tt.is(r.code, 0, r.stderr);
    tt.is(r.stdout, 'HELLO SANDBOX\n');
  });

  t(`${kind}: SIGTERM to \`karapace exec\` reaches the command`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const ready = join(p.dir, 'ws/term-ready');
    const got = join(p.dir, 'ws/term-got');
    const child = p.spawn(['exec', shortId, '--', 'sh', '-c', 'trap "echo term > /workspace/term-got; exit 3" TERM; touch /workspace/term-ready; while :; do sleep 0.05; done']);
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await waitFor('the command to start', () => existsSync(ready));
    // As the user, runuser forks the CLI: signal the CLI itself, not runuser.
    const cli = kind === 'root' ? child.pid! : childrenOf(child.pid!)[0]!;
    process.kill(cli, 'SIGTERM');
    tt.is(await exited, 3);
    tt.is(readFileSync(got, 'utf8'), 'term\n');
  });

  t(`${kind}: orphans are reaped inside and nothing is left running on the host`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    // The inner shell exits at once, orphaning its background sleeps onto the sandbox's pid 1.
    const r = await p.run(['exec', shortId, '--', 'sh', '-c', 'sh -c "sleep 0.1 & sleep 0.1 &"; sleep 0.6; cat /proc/[0-9]*/stat']);
    tt.is(r.code, 0, r.stderr);
    const states = r.stdout.trim().split('\n').map((l) => l.slice(l.lastIndexOf(')') + 2).split(' ')[0]);
    tt.true(states.length >= 2);
    tt.false(states.includes('Z'), r.stdout);
    tt.deepEqual(processesMentioning(join(p.store, 'env')), []);
  });

  t(`${kind}: a second exec while one runs joins its sandbox (one overlay mount, one pid namespace)`, async (tt) => {
    const { p, shortId } = await envFor(kind);
    const ready = join(p.dir, 'ws/join-ready');
    // The first command runs until the test releases it, after the second has looked.
    const first = p.spawn(['exec', shortId, '--', 'sh', '-c', 'echo first > /tmp/join-marker; echo $$ > /workspace/join-first-pid; readlink /proc/self/ns/pid > /workspace/join-first-ns; touch /workspace/join-ready; n=0; while [ ! -e /workspace/join-release ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done']);
    const firstDone = new Promise<number | null>((r) => first.on('close', (code) => r(code)));
    await waitFor('the first command', () => existsSync(ready));
    const second = await p.run(['exec', shortId, '--', 'sh', '-c', 'cat /tmp/join-marker; readlink /proc/self/ns/pid; ls -d /proc/[0-9]* | sort; id -u'])
      .finally(() => writeFileSync(join(p.dir, 'ws/join-release'), ''));
    tt.is(second.code, 0, second.stderr);
    const lines = second.stdout.trim().split('\n');
    tt.is(lines[0], 'first');
    const firstPid = readFileSync(join(p.dir, 'ws/join-first-pid'), 'utf8').trim();
    tt.is(lines[1], readFileSync(join(p.dir, 'ws/join-first-ns'), 'utf8').trim(), 'one pid namespace');
    tt.true(lines.includes(`/proc/${firstPid}`), 'the first command is visible');
    tt.is(lines.at(-1), String(p.who.uid));
    tt.is(await firstDone, 0);
  });

  t(`${kind}: a mount outside the allowed prefixes is refused before anything runs`, async (tt) => {
    const who = identity(kind);
    const p = project(who);
    projects.push(p);
    const ws = p.mkdir('abs-ws');
    p.write('karapace.toml', manifest(busyboxRootfs(), `[mounts]\nabs = "${ws}:/workspace"\n`));
    const { shortId, envId } = await buildEnv(p);
    // Tighten the policy after the build: /tmp is no longer allowed.
    p.write(CONFIG_FILE, JSON.stringify({ plugins: [DIR_IMAGE_PLUGIN], security: { allowedMountPrefixes: ['/home'] } }));
    const r = await p.run(['exec', shortId, '--', 'sh', '-c', 'touch /ran']);
    tt.is(r.code, 2, r.stderr);
    tt.regex(r.stderr, /KP_MOUNT_REFUSED|outside the allowed prefixes/);
    tt.false(existsSync(join(p.store, 'env', envId, 'upper/ran')));
    // At build time too: a manifest naming /var is refused and nothing is created.
    p.write('karapace.toml', manifest(busyboxRootfs(), '[mounts]\nbad = "/var/tmp:/bad"\n'));
    const b = await p.run(['build']);
    tt.is(b.code, 2);
    tt.regex(b.stderr, /outside the allowed prefixes/);
  });

  t(`${kind}: network isolation leaves only lo and the host's 127.0.0.1 unreachable`, async (tt) => {
    const { p: shared, shortId: open } = await envFor(kind);
    // busybox nc speaks enough HTTP/1.0 to reach the host's listener.
    const get = ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 127.0.0.1 ${port}`];
    // Control: without isolation the host listener answers.
    const reach = await shared.run(['exec', open, '--', ...get]);
    tt.regex(reach.stdout, /host-listener-reached/, reach.stderr);

    const p = project(identity(kind));
    projects.push(p);
    p.write('karapace.toml', manifest(busyboxRootfs(), 'network_isolation = true\n'));
    const { shortId } = await buildEnv(p);
    const names = await p.run(['exec', shortId, '--', 'ls', '/sys/class/net']);
    tt.is(names.code, 0, names.stderr);
    tt.deepEqual(names.stdout.trim().split(/\s+/), ['lo']);
    const up = await p.run(['exec', shortId, '--', 'ip', '-o', 'link', 'show', 'up']);
    tt.regex(up.stdout, /^1: lo: <LOOPBACK,UP/);
    tt.is(up.stdout.trim().split('\n').length, 1);
    const blocked = await p.run(['exec', shortId, '--', ...get]);
    tt.not(blocked.code, 0);
    tt.false(blocked.stdout.includes('host-listener-reached'));
  });
}
