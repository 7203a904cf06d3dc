/**
 * Bearer tokens with scopes. Tokens are compared as SHA-256 digests in constant time, and
 * only a token's name ever reaches the logs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type Scope = 'read' | 'write';

export interface TokenEntry {
  /** Shown in request logs instead of the secret. */
  name: string;
  /** SHA-256 of the token (hex); the file may give `token` in clear or `sha256`. */
  sha256: string;
  scopes: Scope[];
}

export interface AuthConfig {
  tokens: TokenEntry[];
  /** Requests without a token may read (never write). */
  anonymousRead: boolean;
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function parseScopes(value: unknown, where: string): Scope[] {
  const list = typeof value === 'string' ? value.split(/[,+]/) : Array.isArray(value) ? value : ['read'];
  const scopes = new Set<Scope>();
  for (const s of list) {
    const v = String(s).trim().toLowerCase();
    if (v === 'read' || v === 'r') scopes.add('read');
    else if (v === 'write' || v === 'w') scopes.add('write');
    else if (v === 'rw') { scopes.add('read'); scopes.add('write'); }
    else throw new Error(`${where}: unknown scope "${v}" (use read, write or read,write)`);
  }
  // Writing implies reading: a push must be able to ask what the server already has.
  if (scopes.has('write')) scopes.add('read');
  return [...scopes].sort();
}

/**
 * Reads a tokens file: `{"tokens":[{"name":"ci","token":"…","scopes":["read","write"]},
 * {"name":"dev","sha256":"<hex>","scopes":["read"]}]}`.
 */
export function loadTokensFile(path: string): TokenEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`tokens file ${path}: ${(err as Error).message}`);
  }
  const list = (parsed as { tokens?: unknown })?.tokens;
  if (!Array.isArray(list)) throw new Error(`tokens file ${path}: expected {"tokens": [...]}`);
  return list.map((raw, i) => {
    const where = `tokens file ${path}, entry ${i}`;
    const e = raw as Record<string, unknown>;
    const name = typeof e.name === 'string' && e.name ? e.name : `token-${i}`;
    let sha: string | undefined;
    if (typeof e.token === 'string' && e.token.length >= 8) sha = sha256Hex(e.token);
    else if (typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/.test(e.sha256)) sha = e.sha256;
    if (!sha) throw new Error(`${where}: needs "token" (8+ characters) or "sha256" (64 hex digits)`);
    return { name, sha256: sha, scopes: parseScopes(e.scopes, where) };
  });
}

/** A token given on the command line or through the environment: `SECRET` with scopes. */
export function tokenEntry(name: string, secret: string, scopes: string): TokenEntry {
  if (secret.length < 8) throw new Error(`token "${name}" is shorter than 8 characters`);
  return { name, sha256: sha256Hex(secret), scopes: parseScopes(scopes, `token "${name}"`) };
}

export type AuthResult =
  | { ok: true; who: string; scopes: Set<Scope> }
  | { ok: false; status: 401 | 403; reason: string };

export function authorize(config: AuthConfig, header: string | undefined, need: Scope): AuthResult {
  if (!header) {
    if (need === 'read' && config.anonymousRead) return { ok: true, who: 'anonymous', scopes: new Set(['read']) };
    return { ok: false, status: 401, reason: 'a bearer token is required' };
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return { ok: false, status: 401, reason: 'malformed Authorization header (expected "Bearer <token>")' };
  const given = Buffer.from(sha256Hex(m[1]!), 'hex');
  let found: TokenEntry | undefined;
  for (const entry of config.tokens) {
    // Compare against every entry so timing does not reveal which one matched.
    if (timingSafeEqual(given, Buffer.from(entry.sha256, 'hex'))) found = entry;
  }
  if (!found) return { ok: false, status: 401, reason: 'unknown token' };
  if (!found.scopes.includes(need)) return { ok: false, status: 403, reason: `token "${found.name}" lacks the ${need} scope` };
  return { ok: true, who: found.name, scopes: new Set(found.scopes) };
}
