/**
 * Bearer-token auth in front of a registry, as Docker Hub and most registries do it: a
 * reverse proxy (node:http on 127.0.0.1) that answers any request without a good token with
 * `401 WWW-Authenticate: Bearer realm=…,service=…,scope=…`, and a token endpoint on the
 * same server that checks basic credentials and grants tokens for the scopes asked.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';

export const SERVICE = 'kp-test-registry';

interface Grant { user: string; actions: Set<string> }

export interface TokenProxy {
  url: string;
  port: number;
  /** Token requests: who asked (from basic auth), service and scope as sent, the answer. */
  tokenRequests: { user?: string; service?: string; scope?: string; status: number }[];
  /** Requests forwarded to the registry, each with the token's user and the action it needed. */
  forwarded: { method: string; path: string; user: string; action: string }[];
  /** Requests turned away with a challenge. */
  challenged: number;
  stop(): Promise<void>;
}

/**
 * `users`: user → password and the actions it may get (`pull`, `push`). Tokens are bound to
 * `repository:<name>:<action>` grants; `/v2/` itself needs any valid token.
 */
export async function startTokenProxy(registryPort: number, users: Record<string, { password: string; actions: string[] }>): Promise<TokenProxy> {
  const tokens = new Map<string, Grant>();
  const state = { tokenRequests: [], forwarded: [], challenged: 0 } as Pick<TokenProxy, 'tokenRequests' | 'forwarded' | 'challenged'>;
  let origin = '';

  const basicUser = (req: IncomingMessage): { user: string; password: string } | undefined => {
    const m = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    const text = Buffer.from(m[1]!, 'base64').toString('utf8');
    const i = text.indexOf(':');
    return i < 0 ? undefined : { user: text.slice(0, i), password: text.slice(i + 1) };
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/token') {
      const creds = basicUser(req);
      const scope = url.searchParams.get('scope') ?? undefined;
      const service = url.searchParams.get('service') ?? undefined;
      const account = creds ? users[creds.user] : undefined;
      const ok = account !== undefined && account.password === creds!.password && service === SERVICE;
      state.tokenRequests.push({ user: creds?.user, service, scope, status: ok ? 200 : 401 });
      if (!ok) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
      // scope = repository:<name>:<actions,…>; grant the asked actions this user may have.
      const actions = new Set<string>();
      for (const s of url.searchParams.getAll('scope')) {
        const parts = s.split(':');
        if (parts[0] !== 'repository' || parts.length !== 3) continue;
        for (const a of parts[2]!.split(',')) if (account.actions.includes(a)) actions.add(`${parts[1]}:${a}`);
      }
      const token = randomBytes(16).toString('hex');
      tokens.set(token, { user: creds!.user, actions });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }

    // /v2/<name>/(blobs|manifests|tags)/… → the repository and the action the request needs.
    const m = /^\/v2\/(.+?)\/(blobs|manifests|tags)\//.exec(url.pathname);
    const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
    const needed = m ? `${m[1]}:${action}` : undefined;
    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const grant = bearer ? tokens.get(bearer) : undefined;
    if (!grant || (needed && !grant.actions.has(needed))) {
      state.challenged++;
      const scope = m ? `,scope="repository:${m[1]}:${action === 'push' ? 'pull,push' : 'pull'}"` : '';
      req.resume();
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="${origin}/token",service="${SERVICE}"${scope}${grant ? ',error="insufficient_scope"' : ''}`,
      }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    state.forwarded.push({ method: req.method ?? '', path: url.pathname, user: grant.user, action });
    const headers = { ...req.headers };
    delete headers.authorization;
    // The Host header stays: the registry builds upload locations from it, so they point back here.
    const upstream = request({ host: '127.0.0.1', port: registryPort, method: req.method, path: req.url, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  origin = `http://127.0.0.1:${port}`;
  return Object.assign(state, {
    url: `oci+http://127.0.0.1:${port}/karapace`,
    port,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
}
