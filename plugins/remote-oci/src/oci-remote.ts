/**
 * Environments as OCI artifacts (docs/remote-protocol.md "OCI registries"): the karapace
 * bundle manifest is the config blob, every tar is a layer (plain OCI tar layers, each
 * annotated with its blake3), and the tag is the image tag. Blobs the registry already has
 * (HEAD) are skipped; uploads are monolithic, or chunked above `chunkSize`.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import {
  bundleBlobs, sourceSha256,
  type PreparedBundle, type PullSource, type PushBlob, type PushBytes, type PushSink, type PushTarget, type RemoteTimeoutConfig,
} from '@karapace/kernel';
import { badReference, integrityError, parseReference, protocolError, type EnvRemote } from '@karapace/remote-http';
import { RegistryClient, readText } from './registry.js';

export const MEDIA = Object.freeze({
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.karapace.env.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  artifact: 'application/vnd.karapace.env.v1',
});
export const ANNOTATION_BLAKE3 = 'dev.karapace.blake3';
export const ANNOTATION_ROLE = 'dev.karapace.role';
export const ANNOTATION_BUNDLE = 'dev.karapace.bundle.blake3';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface OciManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciOptions {
  /** Upload blobs larger than this in PATCH chunks (bytes; 0 = always monolithic). */
  chunkSize?: number;
}

const SHA256 = /^sha256:[0-9a-f]{64}$/;
const REPO_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** `oci://host[:port][/namespace]` (HTTPS) or `oci+http://…` (plain HTTP, e.g. a local registry). */
export function parseOciUrl(url: string): { base: URL; namespace: string; display: string } | undefined {
  const m = /^oci(\+https?)?:\/\/([^/?#]+)(\/[^?#]*)?$/i.exec(url.trim());
  if (!m) return undefined;
  const scheme = m[1]?.toLowerCase() === '+http' ? 'http' : 'https';
  const hostPart = m[2]!.includes('@') ? m[2]!.slice(m[2]!.lastIndexOf('@') + 1) : m[2]!;
  const namespace = (m[3] ?? '').replace(/^\/+|\/+$/g, '');
  if (namespace && !namespace.split('/').every((c) => REPO_COMPONENT.test(c))) return undefined;
  const base = new URL(`${scheme}://${hostPart}/`);
  return { base, namespace, display: `oci${scheme === 'http' ? '+http' : ''}://${hostPart}${namespace ? `/${namespace}` : ''}` };
}

function sha256Verified(source: Readable, expected: string, what: string): Readable {
  const hash = createHash('sha256');
  return source.pipe(new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const actual = `sha256:${hash.digest('hex')}`;
      cb(actual === expected ? null : integrityError(what, expected, actual));
    },
  }));
}

export class OciEnvRemote implements EnvRemote {
  [key: string]: unknown;
  readonly kind = 'oci';
  readonly url: string;
  readonly display: string;
  private readonly registry: RegistryClient;
  private readonly namespace: string;

  constructor(url: string, token: string | undefined, private readonly options: OciOptions = {}, limits: { name?: string; timeouts?: RemoteTimeoutConfig } = {}) {
    const parsed = parseOciUrl(url);
    if (!parsed) throw badReference(url);
    this.url = url;
    this.display = parsed.display;
    this.namespace = parsed.namespace;
    this.registry = new RegistryClient(parsed.base, parsed.display, token, limits);
  }

  close(): void {
    this.registry.close();
  }

  toJSON(): Record<string, unknown> {
    return { kind: this.kind, url: this.display };
  }

  repository(name: string): string {
    return this.namespace ? `${this.namespace}/${name}` : name;
  }

  private async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.registry.request({ method: 'HEAD', path: `/v2/${repo}/blobs/${digest}`, scope: `repository:${repo}:pull,push` });
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    return this.registry.fail(res, `blob ${digest}`);
  }

  private async upload(repo: string, digest: string, size: number, open: (start?: number, end?: number) => Readable): Promise<void> {
    const scope = `repository:${repo}:pull,push`;
    const started = await this.registry.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, headers: { 'content-length': 0 }, scope });
    if (started.statusCode !== 202 || !started.headers.location) return this.registry.fail(started, `upload of ${digest}`);
    started.resume();
    let location = new URL(started.headers.location, this.registry.base);
    const chunk = this.options.chunkSize ?? 0;
    if (chunk > 0 && size > chunk) {
      for (let offset = 0; offset < size; offset += chunk) {
        const end = Math.min(offset + chunk, size) - 1;
        const res = await this.registry.request({
          method: 'PATCH', path: location.href, scope,
          headers: { 'content-type': 'application/octet-stream', 'content-length': end - offset + 1, 'content-range': `${offset}-${end}` },
          body: () => open(offset, end),
        });
        if (res.statusCode !== 202 || !res.headers.location) return this.registry.fail(res, `chunk ${offset}-${end} of ${digest}`);
        res.resume();
        location = new URL(res.headers.location, this.registry.base);
      }
      location.searchParams.set('digest', digest);
      const done = await this.registry.request({ method: 'PUT', path: location.href, headers: { 'content-length': 0 }, scope });
      if (done.statusCode !== 201) return this.registry.fail(done, `blob ${digest}`);
      done.resume();
      return;
    }
    location.searchParams.set('digest', digest);
    const res = await this.registry.request({
      method: 'PUT', path: location.href, scope,
      headers: { 'content-type': 'application/octet-stream', 'content-length': size },
      body: () => open(),
    });
    if (res.statusCode !== 201) return this.registry.fail(res, `blob ${digest}`);
    res.resume();
  }

  /**
   * Blobs by SHA-256 in the repository of `target`; the bundle manifest is the config blob,
   * every other blob a layer annotated with its blake3, and the tag names the OCI manifest.
   */
  async openPush(target: PushTarget): Promise<PushSink> {
    const repo = this.repository(target.name);
    const descriptor = (b: PushBlob): string => `sha256:${b.sha256!}`;
    return {
      needsSha256: true,
      missing: async (blobs: PushBlob[]) => {
        const lacking: PushBlob[] = [];
        for (const b of blobs) if (!(await this.hasBlob(repo, descriptor(b)))) lacking.push(b);
        return lacking;
      },
      putBlob: (blob: PushBlob, bytes: PushBytes) => this.upload(repo, descriptor(blob), blob.size, (start, end) => bytes.open(start, end)),
      publish: async (bundle: PreparedBundle) => {
        const layers: Descriptor[] = [];
        for (const b of bundleBlobs(bundle.manifest)) {
          const sha = await sourceSha256(bundle, b.blob);
          layers.push({ mediaType: MEDIA.layer, digest: `sha256:${sha}`, size: b.size, annotations: { [ANNOTATION_BLAKE3]: b.blob, [ANNOTATION_ROLE]: b.role } });
        }
        const config: Descriptor = { mediaType: MEDIA.config, digest: `sha256:${await sourceSha256(bundle, bundle.digest)}`, size: bundle.manifestBytes.length };
        const manifest: OciManifest & { artifactType: string } = {
          schemaVersion: 2,
          mediaType: MEDIA.manifest,
          artifactType: MEDIA.artifact,
          config,
          layers,
          annotations: { [ANNOTATION_BUNDLE]: bundle.digest, 'dev.karapace.env_id': bundle.manifest.env.env_id },
        };
        const bytes = Buffer.from(JSON.stringify(manifest));
        const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
        const scope = `repository:${repo}:pull,push`;
        const current = await this.registry.request({ method: 'HEAD', path: `/v2/${repo}/manifests/${target.tag}`, headers: { accept: MEDIA.manifest }, scope });
        current.resume();
        const unchanged = current.statusCode === 200 && current.headers['docker-content-digest'] === digest;
        if (!unchanged) {
          const res = await this.registry.request({
            method: 'PUT', path: `/v2/${repo}/manifests/${target.tag}`, scope,
            headers: { 'content-type': MEDIA.manifest, 'content-length': bytes.length }, body: () => bytes,
          });
          if (res.statusCode !== 201) await this.registry.fail(res, `manifest ${repo}:${target.tag}`);
          res.resume();
        }
        return { unchanged, details: { oci_digest: digest } };
      },
    };
  }

  /** Resolves a reference to its bundle; blobs are then opened by their blake3 (the kernel verifies them). */
  async openPull(reference: string): Promise<PullSource & { details: Record<string, string> }> {
    const at = reference.lastIndexOf('@');
    const name = at < 0 ? reference : reference.slice(0, at);
    const rest = at < 0 ? 'latest' : reference.slice(at + 1);
    const byDigest = SHA256.test(rest);
    if (!byDigest && !parseReference(reference)?.tag) throw badReference(reference);
    if (!parseReference(name)) throw badReference(reference);
    const repo = this.repository(name);
    const scope = `repository:${repo}:pull`;
    const res = await this.registry.request({ method: 'GET', path: `/v2/${repo}/manifests/${rest}`, headers: { accept: MEDIA.manifest }, scope });
    if (res.statusCode !== 200) await this.registry.fail(res, `${repo}:${rest}`);
    const text = await readText(res);
    const actual = `sha256:${createHash('sha256').update(text).digest('hex')}`;
    if (byDigest && actual !== rest) throw integrityError(`manifest ${repo}@${rest}`, rest, actual);
    let manifest: OciManifest;
    try {
      manifest = JSON.parse(text) as OciManifest;
    } catch {
      throw protocolError(this.display, 200, `${repo}:${rest} is not a JSON manifest`);
    }
    if (manifest?.config?.mediaType !== MEDIA.config || !SHA256.test(manifest.config.digest) || !Array.isArray(manifest.layers)) {
      throw protocolError(this.display, 200, `${repo}:${rest} is not a karapace environment (config media type ${String(manifest?.config?.mediaType)})`);
    }
    const bundleDigest = manifest.annotations?.[ANNOTATION_BUNDLE];
    if (!bundleDigest || !/^[0-9a-f]{64}$/.test(bundleDigest)) throw protocolError(this.display, 200, `${repo}:${rest} lacks the ${ANNOTATION_BUNDLE} annotation`);
    const blob = async (d: Descriptor): Promise<Readable> => {
      const r = await this.registry.request({ method: 'GET', path: `/v2/${repo}/blobs/${d.digest}`, scope });
      if (r.statusCode !== 200) await this.registry.fail(r, `blob ${d.digest}`);
      return sha256Verified(r, d.digest, `blob ${d.digest.slice(0, 19)}…`);
    };
    const byBlake3 = new Map<string, Descriptor>([[bundleDigest, manifest.config]]);
    for (const d of manifest.layers) {
      const b3 = d.annotations?.[ANNOTATION_BLAKE3];
      if (b3 && SHA256.test(d.digest)) byBlake3.set(b3, d);
    }
    return {
      digest: bundleDigest,
      origin: `${this.display}/${repo}@${actual}`,
      details: { oci_digest: actual },
      openBlob: async (ref) => {
        const d = byBlake3.get(ref.blob);
        if (!d) throw protocolError(this.display, 200, `the manifest of ${repo}:${rest} has no layer for blob ${ref.blob.slice(0, 12)}`);
        return blob(d);
      },
    };
  }
}
