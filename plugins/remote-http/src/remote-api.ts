/**
 * What every environment remote (HTTP, OCI, third-party) gives the kernel's push and pull
 * operations, and how a remote is chosen (the kernel's selectRemote: a configured name or a
 * URL, with a token from `--token-env`, the remote's config, or KARAPACE_REMOTE_TOKEN).
 */
import type { PushableRemote } from '@karapace/kernel';

export { selectRemote, TOKEN_ENV, type RemoteSelection, type PushResult, type PushTarget } from '@karapace/kernel';

/** A remote that moves blobs for push (openPush) and pull (openPull); the kernel packs, verifies and installs. */
export interface EnvRemote extends PushableRemote {
  readonly kind: string;
}
