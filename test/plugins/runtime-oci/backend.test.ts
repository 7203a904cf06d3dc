/**
 * The oci backend end to end, through the real CLI, with runc and a busybox rootfs:
 * exit codes and stdio, identity, writes landing in the env's upper dir (and `diff`),
 * stop, network isolation, and recovery from a CLI killed mid-run.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN } from '../../helpers/cli.js';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { manifest, ociSandbox, runcUnavailable } from './fixtures.js';

const missing = runcUnavailable() ?? busyboxRootfsUnavailable();
const RUNC = { '@karapace/runtime-oci': { runtime: 'runc' } };

async function builtEnv(t: { teardown(fn: () => Promise<void>): void }, opts: { isolated?: boolean; extra?: string } = {}) {
  const box = ociSandbox({ config: RUNC });
  t.teardown(() => rm(box.dir, { recursive: true, force: true }));
  box.write('karapace.toml', manifest(busyboxRootfs(), opts));
  const built = await box.json(['build', '--name', 'o']);
  return { box, built, envDir: join(box.store, 'env', built.env_id) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

if (missing) console.warn(`runtime-oci backend tests skipped: ${missing}`);
const it = missing ? test.skip : test;

it('exec streams stdout and stderr apart and returns the exit status', async (t) => {
  const { box } = await builtEnv(t);
  const r = await box.run(['exec', 'o', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
  t.is(r.code, 7);
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  const input = await box.run(['exec', 'o', '--', 'cat'], { input: 'through stdin\n' });
  t.is(input.stdout, 'through stdin\n');
  const absent = await box.run(['exec', 'o', '--', 'no-such-command']);
  t.is(absent.code, 127);
  t.regex(absent.stderr, /no-such-command/);
  t.is((await box.run(['exec', 'o', '--', '/etc/passwd'])).code, 126);
});

it('exec runs as the invoking user with its home, the filtered environment and the env hostname', async (t) => {
  const { box, built } = await builtEnv(t);
  const r = await box.run(['exec', 'o', '--', 'sh', '-c', 'id -u; id -g; echo $HOME; echo $KARAPACE_ENV_ID; hostname; pwd; echo ${SECRET_TOKEN:-unset}'], {
    env: { SECRET_TOKEN: 'x', GITHUB_TOKEN: 'y' },
  });
  t.is(r.code, 0, r.stderr);
  const [uid, gid, home, envId, hostname, pwd, secret] = r.stdout.trim().split('\n');
  t.is(uid, String(process.getuid!()));
  t.is(gid, String(process.getgid!()));
  t.is(home, process.env.HOME);
  t.is(envId, built.env_id);
  t.is(hostname, 'o');
  t.is(pwd, process.env.HOME);
  t.is(secret, 'unset');
});

it('writes land in the environment\'s upper dir, and diff shows them', async (t) => {
  const { box, envDir } = await builtEnv(t);
  const r = await box.run(['exec', 'o', '--', 'sh', '-c', 'mkdir -p /opt/app && echo data > /opt/app/file && rm /etc/os-release']);
  t.is(r.code, 0, r.stderr);
  t.is(readFileSync(join(envDir, 'upper/opt/app/file'), 'utf8'), 'data\n');
  // The deletion is an overlay whiteout in the upper dir; the lower is untouched.
  t.true(existsSync(join(busyboxRootfs(), 'etc/os-release')));
  const seen = await box.run(['exec', 'o', '--', 'sh', '-c', 'cat /opt/app/file; test -e /etc/os-release && echo present || echo gone']);
  t.is(seen.stdout, 'data\ngone\n');
  const diff = await box.json(['diff', 'o']);
  t.true(diff.added.includes('opt/app/file'), JSON.stringify(diff));
  t.true(diff.removed.includes('etc/os-release'), JSON.stringify(diff));
  // Nothing is left mounted or recorded on the host after the run.
  t.deepEqual(readdirSync(join(envDir, 'runtime/oci/bundles')), []);
  t.false(readFileSync('/proc/self/mountinfo', 'utf8').includes(envDir));
});

it('network isolation leaves only lo; without it the host network is shared', async (t) => {
  const hostIfaces = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
  const ifaces = (out: string) => out.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
  const isolated = await builtEnv(t, { isolated: true });
  const a = await isolated.box.run(['exec', 'o', '--', 'cat', '/proc/net/dev']);
  t.is(a.code, 0, a.stderr);
  t.deepEqual(ifaces(a.stdout), ['lo']);
  const shared = await builtEnv(t);
  const b = await shared.box.run(['exec', 'o', '--', 'cat', '/proc/net/dev']);
  t.deepEqual(ifaces(b.stdout), hostIfaces);
});

it('stop ends a running container (SIGTERM through the init: status 128+15) and status follows it', async (t) => {
  const { box } = await builtEnv(t);
  const running = box.run(['exec', 'o', '--', 'sleep', '300'], { timeoutMs: 60_000 });
  await waitFor('the env to run', async () => (await box.json(['list'])).environments[0].state === 'running');
  const started = Date.now();
  // The init (pid 1) forwards SIGTERM to `sleep`, which has no handler and dies of it.
  const stop = await box.run(['stop', 'o', '--timeout', '20']);
  t.is(stop.code, 0, stop.stderr);
  const r = await running;
  t.is(r.code, 143);
  t.true(Date.now() - started < 15_000);
  t.is((await box.json(['list'])).environments[0].state, 'built');
  // A process that handles SIGTERM ends on it, well before the timeout.
  const polite = box.run(['exec', 'o', '--', 'sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.1; done']);
  await waitFor('the env to run', async () => (await box.json(['list'])).environments[0].state === 'running');
  t.is((await box.run(['stop', 'o', '--timeout', '20'])).code, 0);
  t.is((await polite).code, 42);
});

it('a CLI killed mid-run leaves nothing that blocks the next run', async (t) => {
  const { box, envDir } = await builtEnv(t);
  const cli = spawn(process.execPath, [BIN, 'exec', 'o', '--', 'sleep', '300'], { cwd: box.dir, env: box.env, stdio: 'ignore' });
  await waitFor('the env to run', async () => (await box.json(['list'])).environments[0].state === 'running');
  // Kill the CLI and the runtime process under it: the container's record stays behind.
  const runtimePids = spawnSync('pgrep', ['-P', String(cli.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  cli.kill('SIGKILL');
  for (const pid of runtimePids) process.kill(Number(pid), 'SIGKILL');
  t.is((await box.json(['list'])).environments[0].state, 'running');
  t.is((await box.run(['stop', 'o', '--timeout', '0'])).code, 0);
  const next = await box.run(['exec', 'o', '--', 'echo', 'next']);
  t.is(next.code, 0, next.stderr);
  t.is(next.stdout, 'next\n');
  t.deepEqual(readdirSync(join(envDir, 'runtime/oci/bundles')), []);
  const list = spawnSync('runc', ['--root', join(envDir, 'runtime/oci/state'), 'list', '-q'], { encoding: 'utf8' });
  t.is(list.stdout.trim(), '');
  t.is((await box.run(['destroy', 'o'])).code, 0);
  t.false(existsSync(envDir));
});

// Limits go into linux.resources; as root runc applies them to the container's cgroup.
(missing || process.getuid?.() !== 0 ? test.skip : test)('resource limits from the manifest reach the container\'s cgroup (as root)', async (t) => {
  const { box } = await builtEnv(t, { extra: '[runtime.resource_limits]\nmemory_limit_mb = 64\ncpu_shares = 512' });
  const script = [
    'v1=$(grep -E "^[0-9]+:memory:" /proc/self/cgroup | cut -d: -f3)',
    'if [ -n "$v1" ]; then cat /sys/fs/cgroup/memory$v1/memory.limit_in_bytes; else cat /sys/fs/cgroup$(grep "^0::" /proc/self/cgroup | cut -d: -f3)/memory.max; fi',
  ].join('; ');
  const r = await box.run(['exec', 'o', '--', 'sh', '-c', script]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), String(64 * 1024 * 1024));
});
