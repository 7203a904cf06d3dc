/**
 * The image identity does not depend on who extracted the image: the same tarball built
 * as root and as an unprivileged user (who cannot chown or mknod) records the same digest
 * and gives the same env_id, while each cache keeps its own disk digest for tamper checks.
 */
import anyTest from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { digestTree } from '@karapace/kernel';
import { BIN, mockManifest, type CliResult } from '../../helpers/cli.js';

const USER = 'kp-imguser';

function prerequisiteMissing(): string | undefined {
  if (process.geteuid?.() !== 0) return 'must run as root (to build as root and as another user)';
  if (spawnSync('sh', ['-c', 'command -v runuser && command -v useradd'], { stdio: 'ignore' }).status !== 0) return 'runuser/useradd (util-linux, passwd) are missing';
  spawnSync('flock', ['/tmp/.kp-imguser.lock', 'sh', '-c', `getent passwd ${USER} >/dev/null || useradd -m ${USER}`], { stdio: 'ignore', timeout: 30_000 });
  if (spawnSync('id', ['-u', USER], { stdio: 'ignore' }).status !== 0) return `could not create the user ${USER}`;
  return undefined;
}
const missing = prerequisiteMissing();
if (missing) console.error(`identity.test skipped: ${missing}`);
const test = missing ? anyTest.skip : anyTest;

function ids(): { uid: number; gid: number } {
  const out = (flag: string) => Number(spawnSync('id', [flag, USER], { encoding: 'utf8' }).stdout.trim());
  return { uid: out('-u'), gid: out('-g') };
}

/** A rootfs tarball with what only root can reproduce: foreign owners, setuid, a device node, a fifo. */
async function imageTar(): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  const add = (h: tarStream.Headers, body?: string) =>
    new Promise<void>((resolve, reject) => pack.entry(h, body, (err) => (err ? reject(err) : resolve())));
  await add({ name: 'etc/', type: 'directory', mode: 0o755, uid: 0, gid: 0 });
  await add({ name: 'etc/os-release', mode: 0o644, uid: 0, gid: 0 }, 'NAME=ident\n');
  await add({ name: 'etc/shadow', mode: 0o640, uid: 0, gid: 42 }, 'root:*:1::::::\n');
  await add({ name: 'home/', type: 'directory', mode: 0o755, uid: 0, gid: 0 });
  await add({ name: 'home/dev/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 });
  await add({ name: 'home/dev/notes', mode: 0o600, uid: 1000, gid: 1000 }, 'hello\n');
  await add({ name: 'bin/', type: 'directory', mode: 0o755, uid: 0, gid: 0 });
  await add({ name: 'bin/su', mode: 0o4755, uid: 0, gid: 0 }, '#!/bin/sh\n');
  await add({ name: 'bin/sh', type: 'symlink', linkname: 'su', mode: 0o777, uid: 0, gid: 0 });
  await add({ name: 'dev/', type: 'directory', mode: 0o755, uid: 0, gid: 0 });
  await add({ name: 'dev/null', type: 'character-device', mode: 0o666, uid: 0, gid: 0, devmajor: 1, devminor: 3 });
  await add({ name: 'run/', type: 'directory', mode: 0o755, uid: 0, gid: 0 });
  await add({ name: 'run/initctl', type: 'fifo', mode: 0o600, uid: 0, gid: 0 });
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function run(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

test('the same tarball built as root and as an unprivileged user has the same digest and env_id', async (t) => {
  const dir = mkdtempSync('/tmp/kp-identity-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const tarball = join(dir, 'image.tar');
  writeFileSync(tarball, await imageTar(), { mode: 0o644 });
  const { uid, gid } = ids();

  const builds: { who: string; json: { env_id: string; base: { digest: string } }; store: string }[] = [];
  for (const who of ['root', USER]) {
    const home = join(dir, who);
    mkdirSync(join(home, 'project'), { recursive: true });
    mkdirSync(join(home, 'config'), { recursive: true });
    writeFileSync(join(home, 'project', 'karapace.toml'), mockManifest({ image: tarball }));
    if (who !== 'root') spawnSync('chown', ['-R', `${uid}:${gid}`, home]);
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8',
      KARAPACE_STORE: join(home, 'store'), XDG_CONFIG_HOME: join(home, 'config'),
    };
    const node = [process.execPath, BIN, 'build', '--json'];
    const argv = who === 'root' ? node : ['runuser', '-u', USER, '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...node];
    const r = await run(argv, env, join(home, 'project'));
    t.is(r.code, 0, `${who}: ${r.stderr}`);
    builds.push({ who, json: JSON.parse(r.stdout), store: join(home, 'store') });
    if (who !== 'root') t.regex(r.stderr, /not recreated without privileges: 1 device node/, 'the skipped device node is a counted warning');
  }
  const [root, user] = builds as [typeof builds[0], typeof builds[0]];
  t.is(user.json.base.digest, root.json.base.digest);
  t.is(user.json.env_id, root.json.env_id);

  // Each cache: the identity is the same; the disk digest is what lies on that disk.
  const image = (store: string) => {
    const key = readdirSync(join(store, 'images')).find((n) => !n.startsWith('.'))!;
    const at = join(store, 'images', key);
    return { rootfs: join(at, 'rootfs'), digest: readFileSync(join(at, 'digest'), 'utf8').trim(), disk: readFileSync(join(at, 'disk-digest'), 'utf8').trim() };
  };
  const ri = image(root.store);
  const ui = image(user.store);
  t.is(ri.digest, root.json.base.digest);
  t.is(ui.digest, root.json.base.digest);
  // As root the extraction is faithful: disk digest = identity. As the user it cannot be.
  t.is(ri.disk, ri.digest);
  t.is((await digestTree(ri.rootfs)).digest, ri.disk);
  t.not(ui.disk, ui.digest);
  t.is((await digestTree(ui.rootfs)).digest, ui.disk);

  // The user's image is re-verified against its own disk digest: a rebuild reuses it.
  const again = await run(['runuser', '-u', USER, '--', 'env', '-i', `PATH=${process.env.PATH}`, `HOME=${join(dir, USER)}`, `KARAPACE_STORE=${user.store}`,
    `XDG_CONFIG_HOME=${join(dir, USER, 'config')}`, process.execPath, BIN, 'build', '--json'], { PATH: process.env.PATH }, join(dir, USER, 'project'));
  t.is(again.code, 0, again.stderr);
  t.is(JSON.parse(again.stdout).env_id, root.json.env_id);
  t.notRegex(again.stderr, /modified on disk/);
});
