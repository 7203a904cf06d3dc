/**
 * What every environment remote (HTTP, OCI, third-party) gives the push/pull commands,
 * and how a remote is chosen: a configured name or a URL, with a token from `--token-env`,
 * the remote's config, or KARAPACE_REMOTE_TOKEN. Tokens never appear in output or errors.
 */
import { openRemoteClient, RuntimeFailure, safeUrl, type Engine, type PullableRemote, type RemoteSelection } from '@karapace/kernel';

export { selectRemote, TOKEN_ENV, type RemoteSelection } from '@karapace/kernel';

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

/** A remote that can push (packing is the plugin's) and pull (blobs by digest; the kernel verifies and installs). */
export interface EnvRemote extends PullableRemote {
  readonly kind: string;
  pushEnv(engine: Engine, envRef: string, target: PushTarget): Promise<PushResult>;
}

function isEnvRemote(value: unknown): value is EnvRemote {
  const v = value as EnvRemote | undefined;
  return !!v && typeof v.pushEnv === 'function' && typeof v.openPull === 'function';
}

/** Asks the `remote` hook for a client; the plugin for the URL's scheme answers. */
export async function openRemote(engine: Engine, selection: RemoteSelection): Promise<EnvRemote> {
  const { client, url } = await openRemoteClient(engine, selection);
  if (!isEnvRemote(client)) {
    throw new RuntimeFailure('KP_REMOTE_INCOMPLETE', `the remote client for ${safeUrl(url)} cannot push or pull environments`, {
      hint: 'the plugin that answered the `remote` hook must provide pushEnv and openPull',
    });
  }
  return client;
}
