/**
 * Daily use on a real Debian env (issue 16), as root and as an unprivileged user with its own
 * subordinate id range (full keep-id mapping): root inside (`exec --root`), the image's files
 * owned by root inside while the user keeps their uid, passwordless sudo, a frozen env's
 * read-only root and refused commit, /etc/hosts, the host's ssh-agent inside, a changed
 * manifest moving the name, `exec ENV --json --` reading its option; the same
 * through the installed executable's native front door, which runs exec and enter from its
 * plan with the host integration on.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { debianRootfsTarball, debianRootfsUnavailable } from '../../helpers/debian-rootfs.js';
import { CONFIG_FILE, identitiesUnavailable, imageSourcesMissing, identity, manifest, project, subidIdentity, type Identity, type Project } from './harness.js';
import { viaPlan } from './front-door-run.js';

const tools = spawnSync('sh', ['-c', 'command -v ssh-agent && command -v ssh-add && command -v ssh-keygen && command -v newuidmap'], { stdio: 'ignore' }).status === 0
  ? undefined : 'ssh-agent/ssh-add/ssh-keygen (openssh-client) or newuidmap (uidmap) missing';
const missing = identitiesUnavailable() ?? debianRootfsUnavailable() ?? imageSourcesMissing() ?? tools;
if (missing) console.warn(`daily-use tests skipped: ${missing}`);
const t = missing ? test.skip : test.serial;

const projects: Project[] = [];
const agents: number[] = [];
test.after.always(() => {
  for (const pid of agents) {
    try {
      process.kill(pid);
    } catch {
      // already gone
    }
  }
  for (const p of projects) p.cleanup();
});

async function ok(p: Project, args: string[], timeoutMs = 300_000): Promise<string> {
  const r = await p.run(args, { timeoutMs });
  if (r.code !== 0) throw new Error(`karapace ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

/** A host ssh-agent owned by `who` holding one fresh key (killed after the tests); returns its socket. */
function sshAgent(p: Project, who: Identity): string {
  const dir = p.mkdir('agent');
  const sock = join(dir, 'agent.sock');
  const as = (cmd: string) => spawnSync('runuser', ['-u', who.name, '--', 'sh', '-c', cmd], { encoding: 'utf8', env: { PATH: process.env.PATH, SSH_AUTH_SOCK: sock } });
  const started = as(`ssh-agent -s -a ${sock} && ssh-keygen -q -t ed25519 -N '' -C daily-test -f ${dir}/key && ssh-add -q ${dir}/key`);
  const pid = /SSH_AGENT_PID=(\d+)/.exec(started.stdout)?.[1];
  if (pid) agents.push(Number(pid));
  if (started.status !== 0) throw new Error(`ssh-agent: ${started.stderr}`);
  return sock;
}

for (const kind of ['root', 'user'] as const) {
  // One step per test: each reports before ava's inactivity timeout, apt being slow on a loaded machine.
  let env: { p: Project; who: Identity; agent?: string } | undefined;
  const ready = () => {
    if (!env) throw new Error('the environment was not built (see the first step)');
    return env;
  };

  t(`as ${kind}: build a Debian env with sudo and openssh-client`, async (tt) => {
    const who = kind === 'root' ? identity('root') : subidIdentity('kp-daily');
    const p = project(who);
    projects.push(p);
    // Built-in plugins only: the front door plans for those (the image is a tarball).
    p.write(CONFIG_FILE, '{}\n');
    p.write('karapace.toml', manifest(debianRootfsTarball(), '[system]\npackages = ["sudo", "openssh-client"]\n'));
    const built = JSON.parse(await ok(p, ['build', '--json'], 900_000)) as { short_id: string; packages: { name: string; version: string }[] };
    tt.regex(built.short_id, /^[0-9a-f]{12}$/);
    const names = built.packages.map((pkg) => pkg.name);
    tt.true(names.includes('sudo') && names.includes('openssh-client'), names.join(' '));
    tt.true(built.packages.every((pkg) => pkg.version.length > 0), 'every package is locked to a version');
    await ok(p, ['rename', built.short_id, 'dev']);
    const inspected = JSON.parse(await ok(p, ['inspect', 'dev', '--json'])) as { short_id: string; name?: string };
    tt.is(inspected.short_id, built.short_id);
    tt.is(inspected.name, 'dev');
    env = { p, who };
  });

  t(`as ${kind}: the user keeps their uid, the image's files are root's, root inside installs`, async (tt) => {
    const { p, who } = ready();
    tt.is((await ok(p, ['exec', 'dev', '--', 'id', '-u'])).trim(), String(who.uid));
    tt.is((await ok(p, ['exec', 'dev', '--', 'stat', '-c', '%U %u', '/usr/bin/env', '/usr/bin/sudo'])).trim(), 'root 0\nroot 0');
    tt.is((await ok(p, ['exec', '--root', 'dev', '--', 'id', '-u'])).trim(), '0');
    // Bare, as a user would: the build kept the package lists (compressed, in the packages layer).
    await ok(p, ['exec', '--root', 'dev', '--', 'apt-get', 'install', '-y', '-qq', 'jq'], 900_000);
    tt.regex(await ok(p, ['exec', 'dev', '--', 'jq', '--version']), /^jq-1\./);
    // The install by hand left no download or binary cache behind.
    tt.is((await ok(p, ['exec', 'dev', '--', 'sh', '-c', 'ls /var/cache/apt/archives/*.deb /var/cache/apt/*.bin 2>/dev/null | wc -l'])).trim(), '0');
  });

  t(`as ${kind}: sudo without a password, /etc/hosts, the host's ssh-agent`, async (tt) => {
    const e = ready();
    const { p, who } = e;
    const sudo = await p.run(['exec', 'dev', '--', 'sudo', '-n', 'sh', '-c', 'id -u; test -w /etc']);
    tt.is(sudo.code, 0, sudo.stderr);
    tt.is(sudo.stdout.trim(), '0');
    tt.regex(await ok(p, ['exec', 'dev', '--', 'getent', 'hosts', 'localhost']), /^(127\.0\.0\.1|::1)\s+localhost/);
    tt.regex(await ok(p, ['exec', 'dev', '--', 'sh', '-c', 'getent hosts "$(hostname)"']), /^127\.0\.1\.1\s+dev$/m);
    const sock = sshAgent(p, who);
    e.agent = sock;
    p.env.SSH_AUTH_SOCK = sock;
    const keys = await p.run(['exec', 'dev', '--', 'ssh-add', '-l']);
    delete p.env.SSH_AUTH_SOCK;
    tt.is(keys.code, 0, keys.stderr);
    tt.regex(keys.stdout, /daily-test \(ED25519\)/);
  });

  t(`as ${kind}: the front door runs exec and enter from its plan with the ssh-agent, sudo, /etc/hosts`, async (tt) => {
    const { p, agent } = ready();
    if (!agent) throw new Error('no ssh-agent (see the previous step)');
    const integration = { SSH_AUTH_SOCK: agent };
    const probe = 'jq --version; sudo -n true && echo sudo-ok; getent hosts localhost >/dev/null && echo localhost-ok; stat -c %U /usr/bin/env; ssh-add -l';
    const exec = await viaPlan(p, ['exec', 'dev', '--', 'sh', '-c', probe], integration);
    tt.is(exec.code, 0, exec.stderr);
    tt.regex(exec.stdout, /^jq-1\.\S+\nsudo-ok\nlocalhost-ok\nroot\n256 \S+ daily-test \(ED25519\)\n$/);
    const enter = await viaPlan(p, ['enter', 'dev', '--', 'sh', '-c', 'ssh-add -l; exit 3'], integration);
    tt.is(enter.code, 3, enter.stderr);
    tt.regex(enter.stdout, /daily-test \(ED25519\)/);
  });

  t(`as ${kind}: a changed manifest and build move the name; \`exec dev --json --\` reads its option`, async (tt) => {
    const { p } = ready();
    const before = (JSON.parse(await ok(p, ['inspect', 'dev', '--json'])) as { short_id: string }).short_id;
    p.write('karapace.toml', manifest(debianRootfsTarball(), 'network_isolation = true\n[system]\npackages = ["sudo", "openssh-client"]\n'));
    const built = await p.run(['build'], { timeoutMs: 900_000 });
    tt.is(built.code, 0, built.stderr);
    tt.regex(built.stdout + built.stderr, new RegExp(`name "dev" moved here from ${before}`));
    const after = (JSON.parse(await ok(p, ['inspect', 'dev', '--json'])) as { short_id: string }).short_id;
    tt.not(after, before);
    // jq was installed into the old env by hand: the name now runs the new one, isolated.
    tt.not((await p.run(['exec', 'dev', '--', 'sh', '-c', 'command -v jq'])).code, 0);
    tt.is((await ok(p, ['exec', 'dev', '--', 'sh', '-c', 'ls /sys/class/net'])).trim(), 'lo');
    const json = await p.run(['exec', 'dev', '--json', '--', 'sh', '-c', 'echo hi; exit 3']);
    tt.is(json.code, 3, json.stderr);
    tt.like(JSON.parse(json.stdout), { exit_code: 3, stdout: 'hi\n' });
  });

  t(`as ${kind}: a frozen env refuses writes (the user's, root's) and commit; unfreeze restores`, async (tt) => {
    const { p } = ready();
    await ok(p, ['freeze', 'dev']);
    for (const args of [['exec', 'dev', '--', 'sh', '-c', 'echo x > /tmp/f'], ['exec', '--root', 'dev', '--', 'sh', '-c', 'echo x > /etc/f']]) {
      const w = await p.run(args);
      tt.not(w.code, 0, `${args.join(' ')} wrote to a frozen env`);
      tt.regex(w.stderr, /Read-only file system/);
    }
    const commit = await p.run(['commit', 'dev']);
    tt.is(commit.code, 2);
    tt.regex(commit.stderr, /frozen and cannot be committed/);
    tt.regex(commit.stderr, /karapace unfreeze dev/);
    await ok(p, ['unfreeze', 'dev']);
    await ok(p, ['exec', '--root', 'dev', '--', 'sh', '-c', 'echo x > /etc/f']);
    tt.is((await ok(p, ['exec', 'dev', '--', 'cat', '/etc/f'])).trim(), 'x');
    await ok(p, ['commit', 'dev']);
    await ok(p, ['destroy', 'dev']);
  });
}
