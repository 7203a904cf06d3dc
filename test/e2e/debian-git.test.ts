/**
 * The real path (issue 5): a Debian bookworm base (the alias, served in the LXC directory
 * layout from 127.0.0.1 with the mmdebstrap-built rootfs) + packages = ["git"], on the
 * namespace backend: build → the lock holds git's exact Debian version → `exec -- git
 * --version` prints it → a build from the lock on an empty store gives the same env_id.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createEngine } from '@karapace/kernel';
import { serverArch } from '@karapace/image-sources';
import { sandbox } from '../helpers/cli.js';
import { debianRootfsTarXz, debianRootfsUnavailable } from '../helpers/debian-rootfs.js';

const engine = await createEngine({ cwd: process.cwd(), env: { ...process.env, KARAPACE_STORE: '/nonexistent-kp-probe' } });
const why = !engine.kernel.backends.includes('namespace')
  ? 'the "namespace" backend is not registered yet (@karapace/runtime-namespace not installed/built)'
  : debianRootfsUnavailable();
if (why) console.error(`e2e debian-git skipped: ${why}`);

const BUILD = '20250101_05:24';

async function lxcServer(file: string): Promise<{ url: string; close(): Promise<void> }> {
  const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
  const dir = `/images/debian/bookworm/${serverArch()}/default/`;
  const server = createServer((req, res) => {
    const path = decodeURIComponent(req.url ?? '/');
    if (path === dir) res.writeHead(200).end(`<a href="${BUILD}/">${BUILD}/</a>`);
    else if (path === `${dir}${BUILD}/SHA256SUMS`) res.writeHead(200).end(`${sha}  rootfs.tar.xz\n`);
    else if (path === `${dir}${BUILD}/rootfs.tar.xz`) {
      res.writeHead(200, { 'content-length': statSync(file).size });
      createReadStream(file).pipe(res);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const MANIFEST = `manifest_version = 1
[base]
image = "debian/bookworm"
[system]
packages = ["git"]
[runtime]
backend = "namespace"
`;

(why ? test.skip : test)('Debian bookworm + git on the namespace backend: lock, exec, same env_id from the lock on an empty store', async (t) => {
  const server = await lxcServer(debianRootfsTarXz());
  t.teardown(() => server.close());
  const config = JSON.stringify({ images: { server: server.url } });

  const a = sandbox('kp-e2e-debian-');
  t.teardown(() => rmSync(a.dir, { recursive: true, force: true }));
  a.write('karapace.toml', MANIFEST);
  a.write('.karapacerc.json', config);
  const built = await a.run(['build', '--json'], { timeoutMs: 600_000 });
  t.is(built.code, 0, built.stderr.split('\n').filter((l) => !l.startsWith('{"progress"')).join('\n'));
  const result = JSON.parse(built.stdout);
  const git = result.packages.find((p: { name: string }) => p.name === 'git');
  t.truthy(git);
  t.regex(git.version, /^1:2\.\d+\.\d+/);
  const lock = readFileSync(join(a.dir, 'karapace.lock'), 'utf8');
  t.true(lock.includes(`version = "${git.version}"`));
  t.regex(lock, /source = "http:\/\/127\.0\.0\.1:\d+\/images\/debian\/bookworm\/.*rootfs\.tar\.xz#sha256=[0-9a-f]{64}"/);

  const exec = await a.run(['exec', result.env_id, '--', 'git', '--version']);
  t.is(exec.code, 0, exec.stderr);
  // "1:2.39.5-0+deb12u2" → git prints "git version 2.39.5".
  const upstream = git.version.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
  t.is(exec.stdout.trim(), `git version ${upstream}`);

  // Same manifest + lock, empty store: the same environment identity.
  const b = sandbox('kp-e2e-debian-b-');
  t.teardown(() => rmSync(b.dir, { recursive: true, force: true }));
  b.write('karapace.toml', MANIFEST);
  b.write('karapace.lock', lock);
  b.write('.karapacerc.json', config);
  const again = await b.run(['build', '--locked', '--json'], { timeoutMs: 600_000 });
  t.is(again.code, 0, again.stderr.split('\n').filter((l) => !l.startsWith('{"progress"')).join('\n'));
  t.is(JSON.parse(again.stdout).env_id, result.env_id);
});
