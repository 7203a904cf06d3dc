/**
 * The container's pid 1 is karapace-init (native --init mode): orphans are reaped,
 * SIGINT/SIGTERM end a bare `sleep` (which has no handler), and the status is the
 * command's own or 128+signal. Its mount point stays out of the upper directory.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN } from '../../helpers/cli.js';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { manifest, ociSandbox, runcUnavailable } from './fixtures.js';

const INIT = join(BIN, '../../../native/build/karapace-init');
const missing = runcUnavailable() ?? busyboxRootfsUnavailable() ?? (existsSync(INIT) ? undefined : `${INIT} is not built (npm run build:native)`);
if (missing) console.warn(`runtime-oci init tests skipped: ${missing}`);
const it = missing ? test.skip : test;

async function builtEnv(t: { teardown(fn: () => Promise<void>): void }, config: Record<string, unknown> = {}) {
  const box = ociSandbox({ config: { '@karapace/runtime-oci': { runtime: 'runc', ...config } } });
  t.teardown(() => rm(box.dir, { recursive: true, force: true }));
  box.write('karapace.toml', manifest(busyboxRootfs()));
  const built = await box.json(['build', '--name', 'o']);
  return { box, envDir: join(box.store, 'env', built.env_id) };
}

it('pid 1 is the init; an orphaned background child is reaped; the mount point stays out of the upper dir', async (t) => {
  const { box, envDir } = await builtEnv(t);
  // The subshell exits at once, so its `sleep` is orphaned to pid 1; once that sleep has
  // exited, nothing may be left as a zombie.
  const script = 'cat /proc/1/cmdline | tr "\\0" " "; echo; (sleep 0.2 &); sleep 1; cat /proc/[0-9]*/stat 2>/dev/null | awk \'{print $3}\' | grep -c Z || true';
  const r = await box.run(['exec', 'o', '--', 'sh', '-c', script]);
  t.is(r.code, 0, r.stderr);
  const [cmdline, zombies] = r.stdout.trim().split('\n');
  t.regex(cmdline!, /^\/dev\/\.karapace-init -- sh -c /);
  t.is(zombies, '0');
  t.false(existsSync(join(envDir, 'upper/dev')), `upper: ${readdirSync(join(envDir, 'upper')).join(' ')}`);
});

it('without init (init: false) the same orphan stays a zombie under a non-reaping pid 1', async (t) => {
  const { box } = await builtEnv(t, { init: false });
  // `exec sleep` makes sleep pid 1, which never waits: the orphan becomes a zombie.
  const r = await box.run(['exec', 'o', '--', 'sh', '-c', '(sleep 0.1 &); (sleep 1; cat /proc/[0-9]*/stat | awk \'{print $3}\' | grep -c Z) & exec sleep 2']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), '1');
});

it('exit status and 128+signal pass through the init', async (t) => {
  const { box } = await builtEnv(t);
  t.is((await box.run(['exec', 'o', '--', 'sh', '-c', 'exit 7'])).code, 7);
  t.is((await box.run(['exec', 'o', '--', 'sh', '-c', 'kill -KILL $$'])).code, 137);
  t.is((await box.run(['exec', 'o', '--', 'sh', '-c', 'kill -TERM $$'])).code, 143);
  const absent = await box.run(['exec', 'o', '--', 'no-such-command']);
  t.is(absent.code, 127);
  t.regex(absent.stderr, /no-such-command/);
});

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  it(`${signal} to karapace ends a bare sleep (status ${code})`, async (t) => {
    const { box, envDir } = await builtEnv(t);
    const cli = spawn(process.execPath, [BIN, 'exec', 'o', '--', 'sleep', '300'], { cwd: box.dir, env: box.env, stdio: 'ignore' });
    const done = new Promise<number | null>((resolve) => cli.on('close', (c) => resolve(c)));
    // Wait for the container to exist, then give runc a moment to start its process.
    const deadline = Date.now() + 30_000;
    while (!(await box.json(['list'])).environments[0].state.startsWith('running')) {
      if (Date.now() > deadline) throw new Error('the env never ran');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    cli.kill(signal);
    const timer = setTimeout(() => cli.kill('SIGKILL'), 20_000);
    const status = await done;
    clearTimeout(timer);
    t.is(status, code);
    t.true(Date.now() - started < 10_000);
    t.deepEqual(readdirSync(join(envDir, 'runtime/oci/bundles')), []);
  });
}

const noScript = spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status !== 0 ? 'script(1) is not installed (util-linux)' : undefined;
(missing ?? noScript ? test.skip : test)('^C on the terminal of `enter` ends a bare sleep (status 130)', async (t) => {
  const { box } = await builtEnv(t);
  const command = `${process.execPath} ${BIN} enter o -- sleep 300`;
  // script(1) gives the CLI a terminal; what we write to script goes to that terminal.
  const script = spawn('script', ['-qec', command, '/dev/null'], { cwd: box.dir, env: box.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const done = new Promise<number | null>((resolve) => script.on('close', (c) => resolve(c)));
  const deadline = Date.now() + 30_000;
  while ((await box.json(['list'])).environments[0].state !== 'running') {
    if (Date.now() > deadline) throw new Error('the env never ran');
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
  script.stdin.write('\x03');
  const timer = setTimeout(() => script.kill('SIGKILL'), 20_000);
  const status = await done;
  clearTimeout(timer);
  t.is(status, 130);
});
