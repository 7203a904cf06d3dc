/**
 * Debian's docker-registry on 127.0.0.1 (filesystem storage in a temp dir), images pushed
 * with skopeo from an OCI layout we write by hand, and a bearer-token gate in front of it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ExecutionContext } from 'ava';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startRegistry(t: ExecutionContext): Promise<{ host: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-registry-'));
  const port = await freePort();
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  t.teardown(async () => {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false);
    if (ok) return { host, dir };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('docker-registry did not start');
}

function sha(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Writes an OCI image layout with the given (uncompressed) layer tars; returns its dir. */
export function ociLayout(dir: string, layers: Buffer[], tag: string): string {
  const layout = join(dir, `layout-${tag}`);
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const blob = (buf: Buffer) => {
    const d = sha(buf);
    writeFileSync(join(layout, 'blobs', 'sha256', d), buf);
    return { digest: `sha256:${d}`, size: buf.length };
  };
  const layerDescs = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob(gzipSync(l)) }));
  const config = blob(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l)}`) },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: layerDescs,
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return layout;
}

export function skopeoPush(layout: string, tag: string, dest: string): void {
  const r = spawnSync('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${dest}`], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`skopeo copy failed: ${r.stderr}`);
}

/** A gate that demands `Bearer <token>` from /token before proxying to the registry. */
export async function bearerGate(t: ExecutionContext, upstream: string): Promise<{ host: string; tokenRequests: string[] }> {
  const TOKEN = 'test-token-' + Math.random().toString(36).slice(2);
  const tokenRequests: string[] = [];
  let self = '';
  const server: Server = createServer(async (req, res) => {
    if (req.url?.startsWith('/token')) {
      tokenRequests.push(req.url);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: TOKEN }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${self}/token",service="kp-test",scope="repository:test/busybox:pull"` }).end();
      return;
    }
    const up = await fetch(`http://${upstream}${req.url}`, { headers: { accept: String(req.headers.accept ?? '*/*') } });
    const headers: Record<string, string> = {};
    up.headers.forEach((v, k) => {
      if (!['content-encoding', 'transfer-encoding', 'connection'].includes(k)) headers[k] = v;
    });
    res.writeHead(up.status, headers).end(Buffer.from(await up.arrayBuffer()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  self = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { host: self, tokenRequests };
}
