/**
 * What every environment remote (HTTP, OCI, third-party) gives the push/pull commands,
 * and how a remote is chosen: a configured name or a URL, with a token from `--token-env`,
 * the remote's config, or KARAPACE_REMOTE_TOKEN. Tokens never appear in output or errors.
 */
import { RuntimeFailure, UsageError, type Engine, type RemoteClient } from '@karapace/kernel';
import type { PullResult } from './bundle/install.js';
import { safeUrl } from './errors.js';

export const TOKEN_ENV = 'KARAPACE_REMOTE_TOKEN';

export interface PushResult {
  remote: string;
  reference: string;
  digest: string;
  env_id: string;
  /** Blobs the remote did not have, and their bytes. */
  uploaded: { blobs: number; bytes: number };
  skipped: { blobs: number; bytes: number };
  /** The reference already pointed at this digest. */
  unchanged: boolean;
  seconds: number;
}

export interface PushTarget {
  name: string;
  tag: string;
}

export interface EnvRemote extends RemoteClient {
  readonly kind: string;
  /** The URL as it may be printed. */
  readonly display: string;
  pushEnv(engine: Engine, envRef: string, target: PushTarget): Promise<PushResult>;
  pullEnv(engine: Engine, reference: string, options: { name?: string }): Promise<PullResult & { remote: string; reference: string }>;
  close(): void;
}

export interface RemoteSelection {
  /** A name from config `remotes`, or a URL. Default: config `defaultRemote`. */
  remote?: string;
  /** Name of an environment variable holding the token. */
  tokenEnv?: string;
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

function isEnvRemote(value: unknown): value is EnvRemote {
  const v = value as EnvRemote | undefined;
  return !!v && typeof v.pushEnv === 'function' && typeof v.pullEnv === 'function';
}

/** Asks the `remote` hook for a client; the plugin for the URL's scheme answers. */
export async function openRemote(engine: Engine, selection: RemoteSelection): Promise<EnvRemote> {
  const { url, token } = selectRemote(engine, selection);
  const client = await engine.kernel.hooks.remote.promise({ url, token });
  if (!client) {
    const asked = engine.kernel.tapNames('remote');
    throw new UsageError('KP_REMOTE_UNSUPPORTED', `no remote plugin handles ${safeUrl(url)} (asked: ${asked.join(', ') || 'none'})`, {
      hint: 'use http(s):// for a karapace-server, oci:// (or oci+http:// for a plain-HTTP registry) for an OCI registry',
    });
  }
  if (!isEnvRemote(client)) {
    throw new RuntimeFailure('KP_REMOTE_INCOMPLETE', `the remote client for ${safeUrl(url)} cannot push or pull environments`, {
      hint: 'the plugin that answered the `remote` hook must provide pushEnv and pullEnv',
    });
  }
  return client;
}
