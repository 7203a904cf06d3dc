import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { digestTree } from '@karapace/kernel';
import { parseChallenge, parseReference } from '@karapace/image-sources';
import { pickPlatform } from '../../../plugins/image-sources/dist/sources/oci.js';
import { busyboxMissing, busyboxTarball, have, tempStore } from './_helpers.js';
import { bearerGate, ociLayout, skopeoPush, startRegistry } from './_registry.js';

async function tarOf(entries: { name: string; body?: string; type?: 'file' | 'directory' }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const end = new Promise((r) => pack.on('end', r));
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', mode: e.type === 'directory' ? 0o755 : 0o644 }, e.type === 'directory' ? undefined : e.body ?? '');
  pack.finalize();
  await end;
  return Buffer.concat(chunks);
}

test('registry references parse (tags, digests, ports, docker.io shorthand)', (t) => {
  const ctx = { manifestDir: '/tmp' };
  t.like(parseReference('127.0.0.1:5000/test/busybox:1', ctx), { kind: 'oci', registry: '127.0.0.1:5000', repository: 'test/busybox', tag: '1' });
  t.like(parseReference('docker.io/library/debian:bookworm', ctx), { kind: 'oci', registry: 'docker.io', repository: 'library/debian', tag: 'bookworm' });
  t.like(parseReference('docker://debian', ctx), { kind: 'oci', registry: 'docker.io', repository: 'library/debian', tag: 'latest' });
  const digest = 'sha256:' + 'a'.repeat(64);
  t.like(parseReference(`ghcr.io/org/img@${digest}`, ctx), { kind: 'oci', registry: 'ghcr.io', repository: 'org/img', digest });
  t.like(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
    scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
  });
  const list = [
    { digest: 'sha256:arm', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { digest: 'sha256:amd', platform: { os: 'linux', architecture: 'amd64' } },
    { digest: 'sha256:win', platform: { os: 'windows', architecture: 'amd64' } },
  ];
  t.is(pickPlatform(list, 'amd64')?.digest, 'sha256:amd');
  t.is(pickPlatform(list, 'arm64')?.digest, 'sha256:arm');
  t.is(pickPlatform(list, 's390x'), undefined);
});

const missing = ['docker-registry', 'skopeo'].filter((tool) => !have(tool));
if (missing.length) console.error(`oci registry test skipped: ${missing.join(', ')} not installed (apt-get install docker-registry skopeo)`);
const registryTest = missing.length || busyboxMissing ? test.skip : test;

registryTest('an image pushed with skopeo to docker-registry is pulled through a bearer-token gate, layers applied with whiteouts', async (t) => {
  const store = tempStore(t);
  const gz = busyboxTarball(t, store.dir, 'none');
  const base = readFileSync(gz);
  const top = await tarOf([
    { name: 'etc/', type: 'directory' }, { name: 'etc/.wh.group' }, { name: 'etc/motd', body: 'layer two\n' },
    { name: 'usr/', type: 'directory' }, { name: 'usr/sbin/', type: 'directory' }, { name: 'usr/sbin/.wh..wh..opq' }, { name: 'usr/sbin/only', body: 'x' },
  ]);
  const registry = await startRegistry(t);
  skopeoPush(ociLayout(store.dir, [base, top], 'v1'), 'v1', `${registry.host}/test/busybox:v1`);
  const gate = await bearerGate(t, registry.host);

  const resolved = await store.resolve(`${gate.host}/test/busybox:v1`);
  t.true(gate.tokenRequests.length >= 1);
  t.regex(gate.tokenRequests[0]!, /scope=repository%3Atest%2Fbusybox%3Apull/);
  t.regex(resolved!.source, new RegExp(`^${gate.host}/test/busybox:v1@sha256:[0-9a-f]{64}$`));
  const root = resolved!.rootfs;
  t.true(existsSync(join(root, 'bin/busybox')));
  t.is(readFileSync(join(root, 'etc/motd'), 'utf8'), 'layer two\n');
  t.false(existsSync(join(root, 'etc/group')), 'whiteout removed etc/group');
  t.true(existsSync(join(root, 'etc/passwd')));
  t.deepEqual((await import('node:fs')).readdirSync(join(root, 'usr/sbin')), ['only'], 'opaque dir hides the lower layer');
  t.is(resolved!.digest, (await digestTree(root)).digest);

  // By digest: served from the cache without asking the registry; offline too.
  const digestRef = resolved!.source.replace(/:v1@/, '@');
  const before = gate.tokenRequests.length;
  const again = await store.resolve(digestRef.replace(`${gate.host}/test/busybox`, `${gate.host}/test/busybox`), { offline: true });
  t.is(again!.digest, resolved!.digest);
  t.is(gate.tokenRequests.length, before);

  // A missing tag is a clear error.
  await t.throwsAsync(store.resolve(`${registry.host}/test/busybox:nope`), { code: 'KP_IMAGE_NOT_FOUND' } as never);
});
