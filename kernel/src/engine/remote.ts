/**
 * Remotes as the engine sees them: a configured name or a URL, a token, and the `remote`
 * hook that gives a client for it. Pull is an engine operation every front end reaches
 * (CLI, D-Bus): the client only opens blobs by digest (PullSource); pull.ts verifies and
 * installs. Tokens never appear in output or errors.
 */
import { RuntimeFailure, UsageError } from '../errors.js';
import type { RemoteClient } from '../kernel.js';
import type { Engine } from './engine.js';
import { pullBundle, type PullResult, type PullSource } from './pull.js';
import { transferProgress } from './transfer-progress.js';

export const TOKEN_ENV = 'KARAPACE_REMOTE_TOKEN';

/** A URL without credentials or query, safe to print. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '<invalid url>';
  }
}

export interface RemoteSelection {
  /** A name from config `remotes`, or a URL. Default: config `defaultRemote`. */
  remote?: string;
  /** Name of an environment variable holding the token. */
  tokenEnv?: string;
}

/** What a pull needs of a remote client: resolve a reference, then open blobs by digest. */
export interface PullableRemote extends RemoteClient {
  /** The URL as it may be printed. */
  readonly display: string;
  /** Resolves `reference` (`name@tag`, `name@<digest>`) to the bundle it names. */
  openPull(reference: string): Promise<PullSource & { details?: Record<string, string> }>;
  close(): void;
}

export function selectRemote(engine: Engine, selection: RemoteSelection): { url: string; token?: string; label: string } {
  const remotes = engine.config.remotes ?? {};
  const wanted = selection.remote ?? engine.config.defaultRemote;
  if (!wanted) {
    throw new UsageError('KP_REMOTE_NONE', 'no remote given and no default remote configured', {
      hint: 'pass --remote URL (or a name from your config\'s `remotes`), or set `defaultRemote` in the config',
    });
  }
  const configured = Object.prototype.hasOwnProperty.call(remotes, wanted) ? remotes[wanted] : undefined;
  if (!configured && !wanted.includes('://')) {
    throw new UsageError('KP_REMOTE_UNKNOWN', `no remote named "${wanted}" in the config`, {
      hint: `configured remotes: ${Object.keys(remotes).join(', ') || 'none'}; or pass a URL such as http://127.0.0.1:7890`,
    });
  }
  const url = configured?.url ?? wanted;
  let token: string | undefined;
  if (selection.tokenEnv) {
    token = engine.env[selection.tokenEnv];
    if (!token) {
      throw new UsageError('KP_REMOTE_TOKEN_UNSET', `--token-env ${selection.tokenEnv}: the variable is not set`, { hint: `export ${selection.tokenEnv}=<token> first` });
    }
  } else if (configured?.token) token = configured.token;
  else if (configured?.tokenEnv) token = engine.env[configured.tokenEnv] || undefined;
  else token = engine.env[TOKEN_ENV] || undefined;
  return { url, token, label: configured ? `${wanted} (${safeUrl(url)})` : safeUrl(url) };
}

/** Asks the `remote` hook for a client; the plugin for the URL's scheme answers. */
export async function openRemoteClient(engine: Engine, selection: RemoteSelection): Promise<{ client: RemoteClient; url: string }> {
  const { url, token } = selectRemote(engine, selection);
  const client = await engine.kernel.hooks.remote.promise({ url, token });
  if (!client) {
    const asked = engine.kernel.tapNames('remote');
    throw new UsageError('KP_REMOTE_UNSUPPORTED', `no remote plugin handles ${safeUrl(url)} (asked: ${asked.join(', ') || 'none'})`, {
      hint: 'use http(s):// for a karapace-server, oci:// (or oci+http:// for a plain-HTTP registry) for an OCI registry',
    });
  }
  return { client, url };
}

export interface PullEnvironmentOptions extends RemoteSelection {
  /** `name@tag`, `name` (= @latest) or `name@blake3:<digest>` (OCI: `name@sha256:<digest>`). */
  reference: string;
  /** Local name for the pulled environment. */
  name?: string;
}

export type PullEnvironmentResult = PullResult & { remote: string; reference: string } & Record<string, unknown>;

export async function pullEnvironment(engine: Engine, options: PullEnvironmentOptions): Promise<PullEnvironmentResult> {
  const { client, url } = await openRemoteClient(engine, options);
  const remote = client as PullableRemote;
  try {
    if (typeof remote.openPull !== 'function') {
      throw new RuntimeFailure('KP_REMOTE_INCOMPLETE', `the remote client for ${safeUrl(url)} cannot pull environments`, {
        hint: 'the plugin that answered the `remote` hook must provide openPull (docs/plugin-api.md)',
      });
    }
    const source = await remote.openPull(options.reference);
    const progress = transferProgress(engine.kernel, 'pull', `pull ${options.reference}`);
    let ok = false;
    try {
      const result = await pullBundle(engine, source, { name: options.name, onBytes: progress.add, onTotal: progress.total });
      ok = true;
      return { ...result, remote: remote.display ?? safeUrl(url), reference: options.reference, ...(source.details ?? {}) };
    } finally {
      progress.end(ok);
    }
  } finally {
    remote.close?.();
  }
}
