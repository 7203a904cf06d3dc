/**
 * A base image extracted without privileges loses its owners and device nodes, so its tar
 * cannot reproduce the tree digest its lock names. The image cache keeps the canonical
 * listing (blake3 = the digest); a push sends it, and the kernel's pull checks the tar
 * against it in everything but owners, taking the owners from the listing. Real CLI as an
 * unprivileged user and as root, real karapace-server.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashBytes } from '@karapace/kernel';
import { sandbox } from '../../helpers/cli.js';
import { identitiesUnavailable, identity, project } from '../runtime-namespace/harness.js';
import { startHostileRemote } from './hostile-remote.js';
import { READ_TOKEN, WRITE_TOKEN, startTestServer, type TestServer } from './server-process.js';

const skip = identitiesUnavailable();
let server: TestServer;

test.before(async () => {
  if (!skip) server = await startTestServer();
});
test.after.always(async () => {
  await server?.stop();
});

/** A rootfs tarball with root-owned files, a group-owned file, a setuid binary and a device node. */
function imageTarball(): string {
  const work = mkdtempSync(join(tmpdir(), 'kp-rootless-img-'));
  const root = join(work, 'root');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'dev'));
  writeFileSync(join(root, 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  writeFileSync(join(root, 'bin', 'su'), '#!/bin/sh\necho su\n');
  chmodSync(join(root, 'bin', 'su'), 0o4755);
  writeFileSync(join(root, 'etc', 'shadow'), 'root:*:1::::::\n', { mode: 0o640 });
  chownSync(join(root, 'etc', 'shadow'), 0, 42);
  execFileSync('mknod', [join(root, 'dev', 'null'), 'c', '1', '3']);
  const tar = join(work, 'base.tar');
  execFileSync('tar', ['--sort=name', '--numeric-owner', '-cf', tar, '-C', root, '.']);
  chmodSync(work, 0o755);
  chmodSync(tar, 0o644);
  return tar;
}

(skip ? test.skip : test)('a base extracted without privileges is pushed with its listing; pulls verify it and root gets its owners back', async (t) => {
  const tar = imageTarball();
  const user = project(identity('user'));
  user.env.KARAPACE_REMOTE_TOKEN = WRITE_TOKEN;
  user.mkdir('proj');
  user.write('proj/karapace.toml', `manifest_version = 1\n[base]\nimage = ${JSON.stringify(tar)}\n[runtime]\nbackend = "mock"\n`);
  const built = await user.run(['build', 'proj', '--name', 'rl', '--json']);
  t.is(built.code, 0, built.stderr);
  const pushed = await user.run(['push', 'rl', 'rootless@v1', '--remote', server.url, '--json']);
  t.is(pushed.code, 0, pushed.stderr);
  const { env_id: envId, digest } = JSON.parse(pushed.stdout);

  // Unprivileged puller: verified against the listing.
  const again = project(identity('user'));
  again.env.KARAPACE_REMOTE_TOKEN = READ_TOKEN;
  const pulled = await again.run(['pull', 'rootless@v1', '--remote', server.url, '--json']);
  t.is(pulled.code, 0, pulled.stderr);
  t.is(JSON.parse(pulled.stdout).env_id, envId);

  // Root puller: owners and the setuid bit as the listing names them, still no device node.
  const root = sandbox('kp-rootless-root-');
  const asRoot = await root.json(['pull', 'rootless@v1', '--remote', server.url], { env: { KARAPACE_REMOTE_TOKEN: READ_TOKEN } });
  const meta = JSON.parse(readFileSync(join(root.store, 'store', 'metadata', `${asRoot.env_id}.json`), 'utf8'));
  const shadow = lstatSync(join(meta.base.rootfs, 'etc', 'shadow'));
  t.is(`${shadow.uid}:${shadow.gid}`, '0:42');
  const su = lstatSync(join(meta.base.rootfs, 'bin', 'su'));
  t.is(su.uid, 0);
  t.is(su.mode & 0o7777, 0o4755);
  t.throws(() => lstatSync(join(meta.base.rootfs, 'dev', 'null')));

  // The same bundle with one file's content changed in the tar (the listing kept) is refused.
  const hostile = await startHostileRemote(join(server.dir, 'data'));
  try {
    const m = hostile.manifest(digest);
    t.truthy(m.base.tree, 'the push sent the listing');
    t.is(hashBytes(hostile.blobs.get(m.base.tree.blob)!), m.base.digest);
    const work = mkdtempSync(join(tmpdir(), 'kp-rootless-tamper-'));
    execFileSync('tar', ['-xf', '-', '-C', work], { input: hostile.blobs.get(m.base.blob) });
    writeFileSync(join(work, 'bin', 'tool'), '#!/bin/sh\necho evil\n', { mode: 0o755 });
    const bytes = execFileSync('tar', ['--sort=name', '--numeric-owner', '-cf', '-', '-C', work, '.']);
    m.base = { ...m.base, blob: hostile.put(bytes), size: bytes.length };
    hostile.publish('rootless', 'evil', m);
    const dst = sandbox('kp-rootless-evil-');
    const r = await dst.run(['pull', 'rootless@evil', '--remote', hostile.url, '--json']);
    t.is(r.code, 1);
    t.is(JSON.parse(r.stderr.trim().split('\n').pop()!).error.code, 'KP_REMOTE_INTEGRITY');
  } finally {
    await hostile.close();
    user.cleanup();
    again.cleanup();
  }
});
