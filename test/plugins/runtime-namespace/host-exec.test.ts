/**
 * `karapace-host-exec` (security.hostIntegration.hostExec): off by default; when allowed, a
 * command inside runs a host command as the invoking user, with stdin, stdout, stderr, the
 * exit status and signals passed through, for as long as the sandbox runs (a joined command
 * can use it after the CLI that started the sandbox has exited); nothing is left behind. The
 * host command takes the client's variables but not those describing the env (HOME, PATH,
 * LD_*…), and runs in the host path of the client's directory (a mount, the env's home).
 * As root, as an unprivileged user (single id) and as one with subordinate ids (full mapping).
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { buildEnv, envState, identitiesUnavailable, identity, manifest, processesMentioning, project, subidIdentity, waitFor, type Identity, type Project } from './harness.js';

const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`host-exec tests skipped: ${missing}`);
const t = missing ? test.skip : test;

const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
});

const ALLOWED = { security: { hostIntegration: { hostExec: true } } };

async function built(who: Identity, config: Record<string, unknown>, extra = (_p: Project) => ''): Promise<{ p: Project; shortId: string; marker: string }> {
  const p = project(who, config);
  projects.push(p);
  p.write('karapace.toml', manifest(busyboxRootfs(), extra(p)));
  // Under the project dir (in /tmp): not mounted into the env, so only the host sees it.
  const marker = p.write('host-only', `on-the-host-${process.pid}\n`);
  const { shortId } = await buildEnv(p);
  return { p, shortId, marker };
}

function sandboxGone(p: Project): Promise<void> {
  return waitFor('the sandbox and its host-exec server to be gone', () => processesMentioning(join(p.store, 'env')).length === 0);
}

const identities: [string, () => Identity][] = [
  ['root', () => identity('root')],
  ['user', () => identity('user')],
  ['subid user', () => subidIdentity()],
];

for (const [kind, who] of identities) {
  t(`${kind}: karapace-host-exec is absent unless the security policy allows it`, async (tt) => {
    const { p, shortId, marker } = await built(who(), {});
    const r = await p.run(['exec', shortId, '--', 'sh', '-c', `test -e /run/karapace-host-exec.sock && echo SOCKET; karapace-host-exec cat ${marker}`]);
    tt.is(r.code, 127, r.stderr);
    tt.notRegex(r.stdout, /SOCKET|on-the-host/);
  });

  t(`${kind}: with hostExec allowed a host command runs as the user, with stdio, status and signals passed through`, async (tt) => {
    const id = who();
    const { p, shortId, marker } = await built(id, ALLOWED);
    // The host's file, which the env cannot see, read through the host command; ids are the user's on the host.
    const seen = await p.run(['exec', shortId, '--', 'sh', '-c', `cat ${marker} 2>/dev/null || echo NOT-INSIDE; karapace-host-exec cat ${marker}; karapace-host-exec id -u`]);
    tt.is(seen.code, 0, seen.stderr);
    tt.is(seen.stdout, `NOT-INSIDE\non-the-host-${process.pid}\n${id.uid}\n`);

    // stdin in, stdout and stderr out, the exit status back.
    const io = await p.run(['exec', shortId, '--', 'karapace-host-exec', 'sh', '-c', 'tr a-z A-Z; echo to-stderr >&2; exit 7'], { input: 'hello\n' });
    tt.is(io.code, 7, io.stderr);
    tt.is(io.stdout, 'HELLO\n');
    tt.regex(io.stderr, /to-stderr/);

    // A missing host command: 127 and a message naming it.
    const none = await p.run(['exec', shortId, '--', 'karapace-host-exec', 'no-such-command-here']);
    tt.is(none.code, 127);
    tt.regex(none.stderr, /no-such-command-here/);

    // A signal sent to the client inside reaches the host command; its death is the status.
    const hostPid = join(p.dir, 'host-pid');
    const script = [
      `karapace-host-exec sh -c 'echo $$ > ${hostPid}.tmp; mv ${hostPid}.tmp ${hostPid}; exec sleep 1000' & c=$!`,
      `while ! karapace-host-exec test -s ${hostPid}; do sleep 0.1; done`,
      'kill -INT $c; wait $c; echo status=$?',
    ].join('\n');
    const sig = await p.run(['exec', shortId, '--', 'sh', '-c', script]);
    tt.is(sig.code, 0, sig.stderr);
    tt.is(sig.stdout, 'status=130\n');
    const pid = Number(readFileSync(hostPid, 'utf8'));
    await waitFor('the host command to end', () => !existsSync(`/proc/${pid}`));

    await sandboxGone(p);
    tt.deepEqual(processesMentioning(join(p.store, 'env')), []);
  });

  t(`${kind}: the host command takes the client's variables, not the env's own, in the host path of the client's directory`, async (tt) => {
    const id = who();
    let work = '';
    const { p, shortId } = await built(id, ALLOWED, (q) => {
      work = q.mkdir('work');
      return `home = "env"\n[mounts]\nwork = "${work}:/srv/work"`;
    });
    const script = [
      'mkdir -p /srv/work/sub && cd /srv/work/sub',
      `FOO='bar baz' TERM=kp-term LD_LIBRARY_PATH=/inside/lib LD_PRELOAD=/inside/lib/x.so PATH=/inside/bin:$PATH HOME=/inside-home karapace-host-exec sh -c 'pwd; echo "$FOO|$TERM|\${LD_LIBRARY_PATH-unset}|\${LD_PRELOAD-unset}|$PATH|$HOME"'`,
      'cd ~ && karapace-host-exec pwd',
      'cd /etc && karapace-host-exec pwd',
      `unset FOO; karapace-host-exec sh -c 'echo "\${FOO-unset}|\${KP_HOST_ONLY-unset}"'; karapace-host-exec env -u KP_HOST_ONLY sh -c 'echo "\${KP_HOST_ONLY-unset}"'`,
    ].join('\n');
    p.env.KP_HOST_ONLY = 'host-session';
    const r = await p.run(['exec', shortId, '--', 'sh', '-c', script]);
    delete p.env.KP_HOST_ONLY;
    tt.is(r.code, 0, r.stderr);
    tt.is(r.stdout, [
      join(work, 'sub'),
      `bar baz|kp-term|unset|unset|${p.env.PATH}|${id.home}`,
      join(p.store, 'homes', shortId),
      id.home,
      'unset|host-session',
      'unset',
      '',
    ].join('\n'));

    // A request holds 64 KiB: a variable that does not fit stays behind, with a warning; the rest pass.
    const big = await p.run(['exec', shortId, '--', 'sh', '-c', `BIG=$(head -c 70000 /dev/zero | tr '\\0' x) FOO=small karapace-host-exec sh -c 'echo "\${BIG:-not passed}|$FOO"'`]);
    tt.is(big.code, 0, big.stderr);
    tt.is(big.stdout, 'not passed|small\n');
    tt.regex(big.stderr, /karapace-host-exec: 1 variable\(s\) not passed to the host command \(a request holds 64 KiB\)/);
  });

  t(`${kind}: the host side lives as long as the sandbox, not the CLI that started it`, async (tt) => {
    const { p, shortId, marker } = await built(who(), ALLOWED);
    // The first command waits until the joined one tells it to end; the joined one then waits
    // for it to be gone before asking the host.
    const first = p.spawn(['exec', shortId, '--', 'sh', '-c', 'echo $$ > /tmp/first; while [ ! -e /tmp/stop ]; do sleep 0.1; done']);
    const firstDone = new Promise<number | null>((r) => first.on('exit', (code) => r(code)));
    await waitFor('the first sandbox', async () => (await envState(p, shortId)) === 'running', 60_000);
    const joined = await p.run(['exec', shortId, '--', 'sh', '-c', `while [ ! -s /tmp/first ]; do sleep 0.1; done; touch /tmp/stop; while kill -0 $(cat /tmp/first) 2>/dev/null; do sleep 0.1; done; karapace-host-exec cat ${marker}`]);
    tt.is(await firstDone, 0);
    tt.is(joined.code, 0, joined.stderr);
    tt.is(joined.stdout, `on-the-host-${process.pid}\n`);
    await sandboxGone(p);
    tt.deepEqual(processesMentioning(join(p.store, 'env')), []);
  });
}
