/**
 * The launcher run by native/launch.c (karapace_launch.node next to the launcher) against
 * the reference, child_process: the same CLI with $KARAPACE_SANDBOX pointing at a copy of
 * the launcher that has the flock addon beside it but not the launch addon, so process.ts
 * spawns it the way it always has. On the real namespace backend, as root and as an
 * unprivileged user with subordinate ids: exit codes, a signal sent to the CLI, stdio,
 * environment and ids, the pid record while it runs and none after, the sandbox record and
 * the env lock (a second exec joins the running sandbox, in the same pid namespace).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../helpers/cli.js';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { CONFIG_FILE, buildEnv, identitiesUnavailable, identity, manifest, project, waitFor, type Project } from './harness.js';

const BUILD = join(REPO, 'native/build');
const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable() ?? (existsSync(join(BUILD, 'karapace_launch.node')) ? undefined : 'native/build/karapace_launch.node is not built');
if (missing) console.warn(`native launch tests skipped: ${missing}`);

/** A launcher without the launch addon beside it: process.ts uses child_process. */
const reference = mkdtempSync('/tmp/kp-launch-ref-');
chmodSync(reference, 0o755);
for (const file of ['karapace-sandbox', 'karapace_flock.node']) if (existsSync(join(BUILD, file))) copyFileSync(join(BUILD, file), join(reference, file));
if (existsSync(join(reference, 'karapace-sandbox'))) chmodSync(join(reference, 'karapace-sandbox'), 0o755);
const REFERENCE_ENV = { KARAPACE_SANDBOX: join(reference, 'karapace-sandbox') };

const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
  rmSync(reference, { recursive: true, force: true });
});

async function envFor(kind: 'root' | 'user'): Promise<{ p: Project; shortId: string; runtime: string }> {
  const p = project(identity(kind));
  projects.push(p);
  const tar = join(p.dir, 'busybox.tar');
  const r = spawnSync('tar', ['-C', busyboxRootfs(), '-cf', tar, '.']);
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  spawnSync('chown', [`${p.who.uid}:${p.who.gid}`, tar]);
  p.write(CONFIG_FILE, '{}\n');
  p.write('karapace.toml', manifest('./busybox.tar'));
  const { shortId } = await buildEnv(p);
  const envDir = readdirSync(join(p.store, 'env')).find((d) => d.startsWith(shortId))!;
  return { p, shortId, runtime: join(p.store, 'env', envDir, 'runtime') };
}

/** argv that runs `karapace ARGS` as the project's user with only its environment and `extra`. */
function commandWith(p: Project, args: string[], extra: Record<string, string>): string[] {
  // Not c8's NODE_V8_COVERAGE: the user may not write there, and the warning names a pid.
  const vars = Object.entries({ ...p.env, ...extra }).filter(([k]) => k !== 'NODE_V8_COVERAGE').map(([k, v]) => `${k}=${v}`);
  const [node, bin] = p.command([]).slice(p.who.kind === 'root' ? 0 : -2);
  if (p.who.kind === 'root') return ['env', '-i', ...vars, node!, bin!, ...args];
  return ['runuser', '-u', p.who.name, '--', 'env', '-i', ...vars, node!, bin!, ...args];
}

function runWith(p: Project, args: string[], extra: Record<string, string>, input = ''): { code: number | null; signal: string | null; stdout: string; stderr: string } {
  const [cmd, ...rest] = commandWith(p, args, extra);
  const r = spawnSync(cmd!, rest, { cwd: p.dir, input, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const PROBE = 'id -u; id -g; pwd; env | sort; cat; echo err >&2; exit 7';

for (const kind of ['root', 'user'] as const) {
  const t = missing ? test.skip : test;

  t(`${kind}: the native launch behaves as child_process does (ids, cwd, environment, stdio, exit codes, records)`, async (tt) => {
    const { p, shortId, runtime } = await envFor(kind);
    for (const args of [
      ['exec', shortId, '--', 'sh', '-c', PROBE],
      ['exec', shortId, '--', 'sh', '-c', 'kill -TERM $$'],
      ['exec', shortId, '--', 'no-such-command'],
      ['enter', shortId, '--', 'sh', '-c', 'echo entered; exit 4'],
    ]) {
      const native = runWith(p, args, {}, 'from stdin\n');
      const ref = runWith(p, args, REFERENCE_ENV, 'from stdin\n');
      tt.deepEqual(native, ref, args.join(' '));
    }
    tt.is(runWith(p, ['exec', shortId, '--', 'sh', '-c', PROBE], {}, 'x\n').code, 7);
    tt.deepEqual(readdirSync(join(runtime, 'pids')), [], 'no pid record left behind');
  });

  t(`${kind}: while the native launch runs: its pid record, a signal forwarded, and a second exec joins it`, async (tt) => {
    const { p, shortId, runtime } = await envFor(kind);
    const marker = join(p.dir, 'ns');
    mkdirSync(marker);
    spawnSync('chown', [`${p.who.uid}:${p.who.gid}`, marker]);
    const long = p.spawn(['exec', shortId, '--', 'sh', '-c', 'readlink /proc/self/ns/pid; trap "exit 9" TERM; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; exit 0']);
    tt.teardown(() => long.kill('SIGKILL'));
    let out = '';
    long.stdout!.on('data', (c) => (out += c));
    const ended = new Promise<number | null>((resolve) => long.on('close', (code) => resolve(code)));
    await waitFor('the sandbox record', () => existsSync(join(runtime, 'sandbox.json')) && out.includes('pid:['));
    const records = readdirSync(join(runtime, 'pids'));
    tt.is(records.length, 1);
    const record = JSON.parse(readFileSync(join(runtime, 'pids', records[0]!), 'utf8')) as { kind: string; purpose: string };
    tt.like(record, { kind: 'launcher', purpose: 'exec' });
    // The env lock went when the sandbox was ready: a second exec (either launch) joins it.
    for (const extra of [{}, REFERENCE_ENV]) {
      const joined = runWith(p, ['exec', shortId, '--', 'readlink', '/proc/self/ns/pid'], extra);
      tt.is(joined.code, 0, joined.stderr);
      tt.is(joined.stdout.trim(), out.trim(), 'the same pid namespace');
    }
    // SIGTERM to the CLI (runuser passes it on for the user) reaches the command.
    const cli = kind === 'root' ? long.pid! : Number(readFileSync(`/proc/${long.pid}/task/${long.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    process.kill(cli, 'SIGTERM');
    tt.is(await ended, 9);
    await waitFor('the pid record removed', () => readdirSync(join(runtime, 'pids')).length === 0, 10_000);
  });
}
