/**
 * commit, diff and restore of an environment whose files belong to other in-container ids:
 * as root (identity mapping, in-process) and as an unprivileged user with a subordinate-id
 * range (full mapping: the files belong to subordinate ids on the host, unreadable and
 * undeletable by the user; the store work runs inside the env's id mapping). Ownership as
 * the environment sees it must round-trip. Real CLI, busybox rootfs.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { DIR_IMAGE_PLUGIN, buildEnv, identitiesUnavailable, identity, manifest, project, type Project, type RunResult } from './harness.js';
import { BIN, BUNDLE } from '../../helpers/cli.js';


const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime-namespace snapshot tests skipped: ${missing}`);

const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
});

/** `karapace ARGS` as the project's user through the executable users run (commit/restore take its fast path). */
function runBundled(p: Project, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const argv = p.command(args).map((a) => (a === BIN ? BUNDLE : a));
  // As the user the command starts from `env -i` with the project's variables: the extra ones go there too.
  const clean = argv.indexOf('-i');
  if (argv[clean - 1] === 'env') argv.splice(clean + 1, 0, ...Object.entries(env).map(([k, v]) => `${k}=${v}`));
  const [cmd, ...rest] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, rest, { cwd: p.dir, env: { ...p.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/** A project of `kind` on a busybox env, built; `subuid`: the start of the user's range (full mapping). */
async function busyboxEnv(kind: 'root' | 'user'): Promise<{ p: Project; subuid: number | undefined; shortId: string; envId: string }> {
  const who = identity(kind);
  const subuid = kind === 'user' ? subidStart(who.name) : undefined;
  const p = project(who, { plugins: [DIR_IMAGE_PLUGIN] });
  projects.push(p);
  // The image as an image extracted inside the mapping would be: root-owned as the env sees it.
  const image = join(p.dir, 'image');
  spawnSync('cp', ['-a', busyboxRootfs(), image], { stdio: 'inherit' });
  if (subuid !== undefined) spawnSync('chown', ['-R', `${subuid}:${subuid}`, image], { stdio: 'inherit' });
  p.write('karapace.toml', manifest(image));
  const { shortId, envId } = await buildEnv(p);
  return { p, subuid, shortId, envId };
}

/** An upper dir as the host (root) sees it: types, modes, host owners, sizes, links, contents, xattrs. */
function describeUpper(upper: string): string {
  const sh = (script: string) => spawnSync('sh', ['-c', script], { cwd: upper, encoding: 'utf8' }).stdout;
  return [
    sh("find . -printf '%P %y %m %U:%G %s %n %l\\n' | sort"),
    sh('find . -type f -print0 | sort -z | xargs -0 -r sha256sum'),
    sh('getfattr -R -h -d -m - . 2>/dev/null'),
  ].join('\n');
}

function subidStart(name: string): number | undefined {
  const line = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  return line ? Number(line.split(':')[1]) : undefined;
}

// Run as root inside after the build (`exec --root`; a build's own installs go to its
// packages layer, which diff and commit do not see): private files of another id, a base
// file deleted, and a world-writable place the user changes later.
const SETUP = `set -e
mkdir -p /data/secret
echo private > /data/secret/key
chmod 0600 /data/secret/key
echo mine > /data/note
chmod 0600 /data/note
chown -R 1234:1234 /data/secret /data/note
chmod 0700 /data/secret
mkdir /scratch
chmod 1777 /scratch
echo v1 > /scratch/mod
chmod 0666 /scratch/mod
rm /etc/os-release
`;

interface Diff {
  against: string;
  added: string[];
  modified: string[];
  removed: string[];
}

// The user half needs a subordinate-id range (useradd gives one where /etc/login.defs asks for it).
const noRange = missing ? undefined : subidStart(identity('user').name) === undefined ? `no /etc/subuid range for ${identity('user').name}` : undefined;
if (noRange) console.warn(`runtime-namespace snapshot test as an unprivileged user skipped: ${noRange}`);

for (const kind of ['root', 'user'] as const) {
  const t = missing || (kind === 'user' && noRange) ? test.skip : test;

  t(`${kind}: commit, diff and restore keep in-container ownership of private files`, async (tt) => {
    const { p, subuid, shortId, envId } = await busyboxEnv(kind);
    const setup = await p.run(['exec', '--root', shortId, '--', 'sh', '-c', SETUP]);
    tt.is(setup.code, 0, setup.stderr);
    const upper = join(p.store, 'env', envId, 'upper');
    // On the host: in-container 1234 is a subordinate id (keep-id layout) the user cannot read.
    const hostId = subuid === undefined ? 1234 : subuid + 1233;
    tt.is(lstatSync(join(upper, 'data/secret/key')).uid, hostId);

    const fromBase = JSON.parse((await p.run(['diff', shortId, '--json'])).stdout) as Diff;
    tt.is(fromBase.against, 'base');
    tt.deepEqual(fromBase.added, ['data', 'data/note', 'data/secret', 'data/secret/key', 'scratch', 'scratch/mod']);
    tt.deepEqual(fromBase.removed, ['etc/os-release']);
    // /etc is copied up (a deletion in it), same owner and mode: not a modification.
    tt.deepEqual(fromBase.modified, []);

    const commit = await runBundled(p, ['commit', shortId, '-m', 'private files']);
    tt.is(commit.code, 0, commit.stderr);

    const change = await p.run(['exec', shortId, '--', 'sh', '-c', 'echo v2 > /scratch/mod && echo new > /scratch/added']);
    tt.is(change.code, 0, change.stderr);
    const diff = await p.run(['diff', shortId, '--json']);
    tt.is(diff.code, 0, diff.stderr);
    const d = JSON.parse(diff.stdout) as Diff;
    tt.deepEqual({ against: d.against, added: d.added, modified: d.modified, removed: d.removed },
      { against: 'snapshot:1', added: ['scratch/added'], modified: ['scratch/mod'], removed: [] });

    // The tar path first (the reference), then the native restore from the tree (issue 18),
    // which must not hand over (inside the mapping for the user) and must give the same upper dir.
    const viaTar = await runBundled(p, ['restore', shortId], { KARAPACE_RESTORE_NATIVE: '0' });
    tt.is(viaTar.code, 0, viaTar.stderr);
    const reference = describeUpper(upper);
    const restore = await runBundled(p, ['restore', shortId], { KARAPACE_DEBUG_NATIVE: '1' });
    tt.is(restore.code, 0, restore.stderr);
    tt.regex(restore.stderr, /: restored natively from its tree$/m);
    tt.is(describeUpper(upper), reference);
    tt.regex(reference, /^etc\/os-release [cf] /m, 'the deleted base file is a whiteout in the restored upper dir');
    const inside = await p.run(['exec', shortId, '--', 'sh', '-c',
      'stat -c "%n %u:%g %a" /data/secret /data/note; cat /scratch/mod; test ! -e /scratch/added && test ! -e /etc/os-release && echo gone']);
    tt.is(inside.code, 0, inside.stderr);
    tt.deepEqual(inside.stdout.trim().split('\n'), [
      '/data/secret 1234:1234 700', '/data/note 1234:1234 600', 'v1', 'gone',
    ]);
    // Inside the 0700 dir (not traversable by the user in the env): checked from the host.
    tt.is(readFileSync(join(upper, 'data/secret/key'), 'utf8'), 'private\n');
    const key = lstatSync(join(upper, 'data/secret/key'));
    tt.deepEqual([key.uid, key.gid, key.mode & 0o7777], [hostId, hostId, 0o600]);
    const clean = JSON.parse((await p.run(['diff', shortId, '--json'])).stdout) as Diff;
    tt.deepEqual([clean.added, clean.modified, clean.removed], [[], [], []]);

    const verify = await p.run(['verify-store']);
    tt.is(verify.code, 0, verify.stdout + verify.stderr);
    const destroy = await p.run(['destroy', shortId]);
    tt.is(destroy.code, 0, destroy.stderr);
  });
}

// A commit of more than 256 new contents writes one pack (issue 18); the store work runs
// inside the mapping for the user, so the pack, the version file and the restore from the
// pack happen there too. Private files of another in-container id among them.
const MANY = `set -e
mkdir -p /many/private
i=0
while [ $i -lt 300 ]; do echo "content $i" > /many/f$i; i=$((i+1)); done
i=0
while [ $i -lt 20 ]; do echo "secret $i" > /many/private/s$i; i=$((i+1)); done
chown -R 1234:1234 /many/private
chmod 0600 /many/private/*
chmod 0700 /many/private
`;

for (const kind of ['root', 'user'] as const) {
  const t = missing || (kind === 'user' && noRange) ? test.skip : test;

  t(`${kind}: a commit of many files writes a pack; restore from it gives back the upper dir, by either path`, async (tt) => {
    const { p, shortId, envId } = await busyboxEnv(kind);
    const setup = await p.run(['exec', '--root', shortId, '--', 'sh', '-c', MANY]);
    tt.is(setup.code, 0, setup.stderr);
    const upper = join(p.store, 'env', envId, 'upper');
    const committed = describeUpper(upper);

    const commit = await runBundled(p, ['commit', shortId, '-m', 'many files']);
    tt.is(commit.code, 0, commit.stderr);
    const packs = readdirSync(join(p.store, 'store', 'packs')).filter((n) => n.endsWith('.pack'));
    tt.is(packs.length, 1, 'the new contents went into one pack');
    tt.is(readFileSync(join(p.store, 'store', 'version'), 'utf8'), '3\n');

    const change = await p.run(['exec', '--root', shortId, '--', 'sh', '-c', 'rm -r /many/private && echo changed > /many/f7']);
    tt.is(change.code, 0, change.stderr);
    const viaTar = await runBundled(p, ['restore', shortId], { KARAPACE_RESTORE_NATIVE: '0' });
    tt.is(viaTar.code, 0, viaTar.stderr);
    tt.is(describeUpper(upper), committed);
    const native = await runBundled(p, ['restore', shortId], { KARAPACE_DEBUG_NATIVE: '1' });
    tt.is(native.code, 0, native.stderr);
    tt.regex(native.stderr, /: restored natively from its tree$/m);
    tt.is(describeUpper(upper), committed);
    const inside = await p.run(['exec', shortId, '--', 'sh', '-c', 'cat /many/f7; stat -c "%u %a" /many/private']);
    tt.is(inside.code, 0, inside.stderr);
    tt.deepEqual(inside.stdout.trim().split('\n'), ['content 7', '1234 700']);
    const verify = await p.run(['verify-store']);
    tt.is(verify.code, 0, verify.stdout + verify.stderr);
  });
}
