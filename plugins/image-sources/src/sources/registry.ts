/**
 * A minimal OCI distribution client: manifests and blobs, with the bearer-token dance
 * (401 + `WWW-Authenticate: Bearer realm=…,service=…,scope=…` → token → retry) and basic
 * auth for registries that use it. Plain http only for the configured insecure hosts.
 */
import { createHash } from 'node:crypto';
import { RuntimeFailure } from '@karapace/kernel';
import { fetchOk, httpError } from '../http.js';
import type { ResolvedOptions } from '../options.js';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface ManifestDoc {
  mediaType?: string;
  manifests?: Descriptor[];
  layers?: Descriptor[];
  config?: Descriptor;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (quoted values may contain commas). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/([A-Za-z_]+)=(?:"([^"]*)"|([^,\s]*))/g)) params[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  return { scheme, params };
}

export class RegistryClient {
  readonly baseUrl: string;
  private authorization?: string;

  constructor(readonly registry: string, readonly repository: string, private readonly options: ResolvedOptions) {
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    const hostname = host.replace(/:\d+$/, '');
    const insecure = options.insecureRegistries.includes(host) || options.insecureRegistries.includes(hostname);
    this.baseUrl = `${insecure ? 'http' : 'https'}://${host}`;
  }

  /** GET with authentication; the caller checks the status. */
  async get(path: string, accept?: string[]): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    const headers = (): Record<string, string> => ({
      ...(accept ? { Accept: accept.join(', ') } : {}),
      ...(this.authorization ? { Authorization: this.authorization } : {}),
    });
    let res = await fetchOk(url, { headers: headers() });
    if (res.status === 401) {
      const challenge = res.headers.get('www-authenticate');
      await res.body?.cancel();
      if (!challenge) throw this.authError(url, 'the registry demands authentication but sent no challenge');
      await this.authenticate(challenge, url);
      res = await fetchOk(url, { headers: headers() });
      if (res.status === 401) {
        await res.body?.cancel();
        throw this.authError(url, 'the registry refused the token');
      }
    }
    return res;
  }

  private credentials(): { username: string; password: string } | undefined {
    return this.options.registryAuth[this.registry];
  }

  private async authenticate(header: string, url: string): Promise<void> {
    const { scheme, params } = parseChallenge(header);
    const creds = this.credentials();
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    if (scheme === 'basic') {
      if (!basic) throw this.authError(url, 'the registry wants a username and password');
      this.authorization = basic;
      return;
    }
    if (scheme !== 'bearer' || !params.realm) throw this.authError(url, `unsupported authentication challenge "${header}"`);
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', params.scope ?? `repository:${this.repository}:pull`);
    const res = await fetchOk(tokenUrl.href, { headers: basic ? { Authorization: basic } : {} });
    if (!res.ok) {
      await res.body?.cancel();
      throw this.authError(url, `the token service ${tokenUrl.origin} answered HTTP ${res.status}`);
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw this.authError(url, 'the token service returned no token');
    this.authorization = `Bearer ${token}`;
  }

  private authError(url: string, why: string): RuntimeFailure {
    return new RuntimeFailure('KP_REGISTRY_AUTH', `${url}: ${why}`, {
      hint: `set credentials for ${this.registry} in the image-sources plugin option "registryAuth"`,
      data: { registry: this.registry },
    });
  }

  /** Fetches a manifest by tag or digest; returns the document, its raw bytes' digest and type. */
  async manifest(reference: string): Promise<{ doc: ManifestDoc; digest: string; mediaType: string }> {
    const path = `/v2/${this.repository}/manifests/${reference}`;
    const res = await this.get(path, MANIFEST_TYPES);
    if (res.status === 404) {
      await res.body?.cancel();
      throw new RuntimeFailure('KP_IMAGE_NOT_FOUND', `${this.registry}/${this.repository}:${reference} does not exist in the registry`, {
        hint: 'check the repository name and tag',
        data: { registry: this.registry, repository: this.repository, reference },
      });
    }
    if (!res.ok) throw httpError(`${this.baseUrl}${path}`, `HTTP ${res.status}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new RuntimeFailure('KP_IMAGE_DIGEST_MISMATCH', `the registry returned a manifest with digest ${digest} for ${reference}`, {
        hint: 'the registry or something in between is misbehaving; do not use this image',
      });
    }
    let doc: ManifestDoc;
    try {
      doc = JSON.parse(bytes.toString('utf8')) as ManifestDoc;
    } catch (err) {
      throw httpError(`${this.baseUrl}${path}`, 'the manifest is not valid JSON', err);
    }
    const mediaType = doc.mediaType ?? res.headers.get('content-type')?.split(';')[0] ?? '';
    return { doc, digest, mediaType };
  }

  blobUrl(digest: string): string {
    return `${this.baseUrl}/v2/${this.repository}/blobs/${digest}`;
  }

  /** The Authorization header to use for blob downloads (after a manifest request). */
  get authHeader(): Record<string, string> {
    return this.authorization ? { Authorization: this.authorization } : {};
  }
}
