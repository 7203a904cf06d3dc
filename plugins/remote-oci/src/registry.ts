/**
 * A small distribution-spec client: /v2/ requests with anonymous, basic and bearer-token
 * auth (the WWW-Authenticate challenge → token endpoint dance), redirects for blob
 * downloads, and errors that never contain the credentials.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { KarapaceError, RuntimeFailure, type RemoteTimeoutConfig } from '@karapace/kernel';
import { forbidden, guardRequest, notFound, protocolError, refConflict, resolveTimeouts, unauthorized, unreachable, type TimeoutContext } from '@karapace/remote-http';

export interface RegistryRequest {
  method: string;
  /** Path below the registry root (`/v2/...`) or an absolute URL (upload locations, redirects). */
  path: string;
  headers?: Record<string, string | number>;
  /** A body factory: retried requests (after an auth challenge) open it again. */
  body?: () => Readable | Buffer;
  /** Scope to ask a token server for, e.g. `repository:ns/app:pull,push`. */
  scope: string;
}

interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^(\w+)\s+(.*)$/.exec(header.trim());
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)="([^"]*)"/g)) params[p[1]!.toLowerCase()] = p[2]!;
  return { scheme, params };
}

export class RegistryClient {
  readonly base: URL;
  readonly display: string;
  readonly #credentials?: { user: string; password: string };
  readonly #staticToken?: string;
  /** Bearer tokens by scope. */
  readonly #tokens = new Map<string, string>();
  #basic = false;
  private readonly agent: http.Agent;
  /** The limits every request runs under (remote-http's timeouts.ts). */
  readonly limits: TimeoutContext;

  /** `token`: `user:password` (basic, or to obtain bearer tokens) or a bearer token. */
  constructor(base: URL, display: string, token?: string, limits: { name?: string; timeouts?: RemoteTimeoutConfig } = {}) {
    this.base = base;
    this.display = display;
    this.limits = { remote: display, name: limits.name, timeouts: resolveTimeouts(limits.timeouts) };
    if (token?.includes(':')) {
      const i = token.indexOf(':');
      this.#credentials = { user: token.slice(0, i), password: token.slice(i + 1) };
    } else if (token) this.#staticToken = token;
    this.agent = new (base.protocol === 'https:' ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 8 });
  }

  get hasCredentials(): boolean {
    return this.#credentials !== undefined || this.#staticToken !== undefined;
  }

  close(): void {
    this.agent.destroy();
  }

  toJSON(): Record<string, unknown> {
    return { url: this.display };
  }

  private authHeader(scope: string): string | undefined {
    const bearer = this.#tokens.get(scope) ?? this.#staticToken;
    if (bearer) return `Bearer ${bearer}`;
    if (this.#basic && this.#credentials) return `Basic ${Buffer.from(`${this.#credentials.user}:${this.#credentials.password}`).toString('base64')}`;
    return undefined;
  }

  private raw(url: URL, method: string, headers: Record<string, string | number>, body?: Readable | Buffer): Promise<IncomingMessage> {
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const sameHost = url.host === this.base.host;
      const req = mod.request(url, { method, headers, agent: sameHost ? this.agent : undefined });
      guardRequest(req, this.limits, `${method} ${url.pathname}`);
      req.on('response', resolve);
      req.on('error', (err: Error) => reject(err instanceof KarapaceError ? err : unreachable(this.display, err)));
      if (!body) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      }
    });
  }

  /** Answers an auth challenge; false when there is nothing more to try. */
  private async authenticate(challenge: Challenge | undefined, scope: string): Promise<boolean> {
    if (!challenge) return false;
    if (challenge.scheme === 'basic') {
      if (!this.#credentials || this.#basic) return false;
      this.#basic = true;
      return true;
    }
    if (this.#tokens.has(scope) || !challenge.params.realm) return false;
    const realm = new URL(challenge.params.realm);
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    if (this.#credentials) headers.authorization = `Basic ${Buffer.from(`${this.#credentials.user}:${this.#credentials.password}`).toString('base64')}`;
    const res = await this.raw(realm, 'GET', headers);
    const text = await readText(res);
    if (res.statusCode === 401 || res.statusCode === 403) throw tokenRefused(this.display, realm, res.statusCode, this.#credentials?.user);
    if (res.statusCode !== 200) return false;
    let token: string | undefined;
    try {
      const parsed = JSON.parse(text) as { token?: string; access_token?: string };
      token = parsed.token ?? parsed.access_token;
    } catch { /* not JSON */ }
    if (!token) return false;
    this.#tokens.set(scope, token);
    return true;
  }

  async request(r: RegistryRequest): Promise<IncomingMessage> {
    let url = /^https?:\/\//.test(r.path) ? new URL(r.path) : new URL(r.path, this.base);
    for (let attempt = 0, redirects = 0; ; ) {
      const sameHost = url.host === this.base.host;
      const auth = sameHost ? this.authHeader(r.scope) : undefined;
      const res = await this.raw(url, r.method, { ...(auth ? { authorization: auth } : {}), ...(r.headers ?? {}) }, r.body?.());
      if (res.statusCode === 401 && sameHost && attempt < 2) {
        res.resume();
        attempt++;
        // A concurrent request got a token for this scope meanwhile: use it.
        if (this.authHeader(r.scope) !== auth) continue;
        if (await this.authenticate(parseChallenge(res.headers['www-authenticate']), r.scope)) continue;
        throw unauthorized(this.display, this.hasCredentials);
      }
      if ((res.statusCode === 307 || res.statusCode === 302 || res.statusCode === 301 || res.statusCode === 303) && res.headers.location && redirects < 5 && (r.method === 'GET' || r.method === 'HEAD')) {
        res.resume();
        redirects++;
        url = new URL(res.headers.location, url);
        continue;
      }
      return res;
    }
  }

  /** Turns an unexpected status into the matching error. */
  async fail(res: IncomingMessage, what: string): Promise<never> {
    const status = res.statusCode ?? 0;
    const text = await readText(res).catch(() => '');
    let message = text.trim().slice(0, 300) || res.statusMessage || 'no details';
    try {
      const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors;
      if (errors?.length) message = errors.map((e) => `${e.code ?? ''} ${e.message ?? ''}`.trim()).join('; ');
    } catch { /* not JSON */ }
    if (status === 401) throw unauthorized(this.display, this.hasCredentials);
    if (status === 403) throw forbidden(this.display, message);
    if (status === 404) throw notFound(this.display, what);
    if (status === 409 || status === 412) throw refConflict(this.display, what, message);
    throw protocolError(this.display, status, `${what}: ${message}`);
  }
}

/** The token service of a bearer-auth registry turned the credentials down. */
function tokenRefused(remote: string, realm: URL, status: number, user: string | undefined): RuntimeFailure {
  return new RuntimeFailure('KP_REMOTE_UNAUTHORIZED', `the token service ${realm.origin}${realm.pathname} of ${remote} refused ${user ? `the credentials of "${user}"` : 'to issue a token without credentials'} (${status})`, {
    hint: user
      ? 'check the user:password in KARAPACE_REMOTE_TOKEN (or in the variable named by --token-env / `remotes.<name>.tokenEnv`)'
      : 'set KARAPACE_REMOTE_TOKEN to user:password, or pass --token-env VAR',
    data: { remote, status, realm: `${realm.origin}${realm.pathname}` },
  });
}

export async function readText(res: IncomingMessage, max = 16 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res) {
    size += (c as Buffer).length;
    if (size > max) {
      res.destroy();
      throw new Error(`response larger than ${max} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
