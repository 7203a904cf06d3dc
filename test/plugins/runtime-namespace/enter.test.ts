/**
 * `enter` on a real pseudo-terminal (script(1)): a pts of the sandbox's own inside whose
 * size follows the outer terminal's, ^C goes to the foreground job, `stop` ends the session
 * and leaves the outer terminal as it was; and the pid record outlives a killed CLI.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { buildEnv, childrenOf, envState, identitiesUnavailable, identity, manifest, processesMentioning, project, ptyCommand, waitFor, type Project } from './harness.js';

const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable() ??
  (spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status === 0 ? undefined : 'script(1) from util-linux is missing');
if (missing) console.warn(`runtime-namespace enter tests skipped: ${missing}`);

const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
});

/** The outer terminal: the pts that script(1) gave the CLI (fd 0 of a descendant of pid). */
function outerTerminal(pid: number): string | undefined {
  for (const child of childrenOf(pid)) {
    let fd0 = '';
    try {
      fd0 = readlinkSync(`/proc/${child}/fd/0`);
    } catch {
      // gone, or not ours to read
    }
    if (fd0.startsWith('/dev/pts/')) return fd0;
    const deeper = outerTerminal(child);
    if (deeper) return deeper;
  }
  return undefined;
}

function stty(args: string[]): string {
  const r = spawnSync('stty', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stty ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

async function builtProject(kind: 'root' | 'user'): Promise<{ p: Project; shortId: string }> {
  const p = project(identity(kind));
  projects.push(p);
  p.write('karapace.toml', manifest(busyboxRootfs()));
  const { shortId } = await buildEnv(p);
  return { p, shortId };
}

for (const kind of ['root', 'user'] as const) {
  const t = missing ? test.skip : test;

  for (const joined of [false, true]) t(`${kind}: enter has a real terminal, ^C reaches the foreground job, and stop ends it${joined ? ' (joining a running sandbox)' : ''}`, async (tt) => {
    const { p, shortId } = await builtProject(kind);
    // Joined: an exec already runs, so enter joins its sandbox instead of starting one.
    const owner = joined ? p.spawn(['exec', shortId, '--', 'sh', '-c', 'while :; do sleep 1; done']) : undefined;
    if (owner) await waitFor('the first sandbox', async () => (await envState(p, shortId)) === 'running', 60_000);
    const [cmd, ...args] = ptyCommand(p, ['enter', shortId]);
    // The outer terminal's settings before and after the session, printed by script's shell.
    const line = args.indexOf('-qfc') + 1;
    args[line] = `stty -g | sed s/^/BEFORE:/; ${args[line]}; stty -g | sed s/^/AFTER:/`;
    const session = spawn(cmd!, args, { cwd: p.dir, env: p.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    session.stdout.on('data', (c) => (output += c));
    session.stderr.on('data', (c) => (output += c));
    const closed = new Promise<void>((r) => session.on('close', () => r()));
    try {
      await waitFor('the environment to run', async () => (await envState(p, shortId)) === 'running');
      // $((…)) is expanded by the shell inside, so the echoed input never matches.
      session.stdin.write('test -t 0 && echo TTY-$((40+2)); stty size >/dev/null && echo SIZE-$((1+1))\n');
      await waitFor('a terminal inside', () => output.includes('TTY-42') && output.includes('SIZE-2'));
      // The sandbox's own pts (not the host's terminal under another name).
      session.stdin.write('echo PTS-$(tty)-END\n');
      await waitFor('tty to name a pts', () => /PTS-\/dev\/pts\/\d+-END/.test(output), 60_000);
      tt.notRegex(output, /PTS-\/dev\/console/);

      // A resize of the outer terminal reaches the one inside (SIGWINCH → relay → TIOCSWINSZ).
      const outer = outerTerminal(session.pid!);
      tt.truthy(outer, 'the CLI runs on a pts of script(1)');
      stty(['-F', outer!, 'rows', '31', 'cols', '97']);
      // Asked again now and then: the relay may see SIGWINCH after the first question.
      let asked = 0;
      await waitFor('the new size inside', () => {
        if (output.includes('SZ-31x97')) return true;
        if (Date.now() - asked > 1000) {
          asked = Date.now();
          session.stdin.write("echo SZ-$(stty size | tr ' ' x)\n");
        }
        return false;
      }, 60_000);
      // Raw mode outside while the session runs: the line discipline inside does the editing.
      tt.regex(stty(['-F', outer!, '-a']), /(^|\s)-icanon(\s|$)/);
      // A foreground job that only ^C ends (a plain sleep could end by itself on a VM whose idle time is fast-forwarded).
      session.stdin.write('while :; do sleep 1; done\n');
      await new Promise((r) => setTimeout(r, 500));
      session.stdin.write('\x03');
      session.stdin.write('echo AFTER-$((2+3))\n');
      await waitFor('^C to end the foreground sleep and leave the shell running', () => output.includes('AFTER-5'), 10_000);

      const stop = await p.run(['stop', shortId, '--timeout', '1']);
      tt.is(stop.code, 0, stop.stderr);
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('enter did not end after stop')), 15_000))]);
      tt.is(await envState(p, shortId), 'built');
      tt.deepEqual(processesMentioning(join(p.store, 'env')), []);
      // The outer terminal is handed back as it was.
      const before = /BEFORE:([0-9a-f:]+)/.exec(output)?.[1];
      tt.truthy(before, output);
      tt.is(/AFTER:([0-9a-f:]+)/.exec(output)?.[1], before);
    } finally {
      session.kill('SIGKILL');
      owner?.kill('SIGKILL');
    }
  });

  t(`${kind}: status comes from a pid record that survives a killed CLI`, async (tt) => {
    const { p, shortId } = await builtProject(kind);
    // A command that never ends by itself (idle time may be fast-forwarded on test VMs).
    const child = p.spawn(['exec', shortId, '--', 'sh', '-c', 'while :; do sleep 1; done']);
    // 'exit', not 'close': the sandbox keeps the CLI's stdout pipe open after the CLI dies.
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    await waitFor('the environment to run', async () => (await envState(p, shortId)) === 'running');
    const cli = kind === 'root' ? child.pid! : childrenOf(child.pid!)[0]!;
    process.kill(cli, 'SIGKILL');
    await exited;
    if (kind === 'user') await waitFor('the CLI to be gone', () => !existsSync(`/proc/${cli}`));
    tt.is(await envState(p, shortId), 'running', 'the sandbox outlives the CLI and is still reported');
    const stop = await p.run(['stop', shortId, '--timeout', '2']);
    tt.is(stop.code, 0, stop.stderr);
    tt.is(await envState(p, shortId), 'built');
    await waitFor('the sandbox to be gone', () => processesMentioning(join(p.store, 'env')).length === 0, 5000);
    tt.deepEqual(processesMentioning(join(p.store, 'env')), []);
  });
}
