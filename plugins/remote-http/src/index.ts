/**
 * @karapace/remote-http — environments pushed to and pulled from a karapace-server over
 * HTTP(S) (docs/remote-protocol.md). Answers the `remote` hook for http:// and https://.
 * The server lives in `@karapace/remote-http/server` (bin: karapace-server).
 */
import { definePlugin } from '@karapace/kernel';
import { HttpEnvRemote } from './http-remote.js';
import { configuredLimits } from './timeouts.js';

export { HttpRemoteClient, type ClientOptions } from './client.js';
export { DEFAULT_TIMEOUTS, resolveTimeouts, checkTimeouts, configuredLimits, guardRequest, timeoutError, type RemoteTimeouts, type TimeoutContext, type TimeoutKind } from './timeouts.js';
export { HttpEnvRemote } from './http-remote.js';
export { pushEnvironment, pullEnvironment, type PushOptions, type PullOptions } from './environment.js';
export { selectRemote, TOKEN_ENV, type EnvRemote, type PushResult, type PushTarget, type RemoteSelection } from './remote-api.js';
export type { PullResult } from '@karapace/kernel';
export { prepareBundle, planBundle, openSource, sourceSha256, imageKeyOf, type PreparedBundle, type BundleSource, type PrepareOptions, type BundlePlan } from '@karapace/kernel';
export { parseBundleManifest, bundleBlobs, BUNDLE_FORMAT, transferProgress, formatBytes, type BundleManifest, type BundleBlobRef, type BundleLayer, type TransferProgress } from '@karapace/kernel';
export { integrityError, unauthorized, forbidden, unreachable, protocolError, refConflict, notFound, badReference, safeUrl } from './errors.js';
export * from './protocol.js';

const PLUGIN_NAME = 'remote-http';

export interface HttpRemoteOptions {
  /**
   * What a push sends: `objects` (default; bundle v3, only the file contents the server
   * lacks) or `tars` (bundles v1/v2, one tar per layer, for pullers older than v3).
   */
  bundle?: 'objects' | 'tars';
}

export default definePlugin<HttpRemoteOptions>({
  name: PLUGIN_NAME,
  validateOptions(options) {
    const o = (options ?? {}) as HttpRemoteOptions;
    if (o.bundle !== undefined && o.bundle !== 'objects' && o.bundle !== 'tars') return 'bundle must be "objects" or "tars"';
    return undefined;
  },
  apply(kernel, options) {
    kernel.hooks.remote.tapPromise(PLUGIN_NAME, async (request) => {
      if (!/^https?:\/\//i.test(request.url)) return undefined;
      const remote = new HttpEnvRemote(request.url, request.token, configuredLimits(kernel.config, request.url));
      remote.tarBundles = options?.bundle === 'tars';
      return remote;
    });
  },
});
