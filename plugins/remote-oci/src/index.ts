/**
 * @karapace/remote-oci — push environments to, and pull them from, any registry that
 * implements the OCI distribution spec. Answers the `remote` hook for `oci://` (HTTPS)
 * and `oci+http://` (plain HTTP) URLs. Options: `{ chunkSize }` (bytes; chunked uploads).
 */
import { definePlugin } from '@karapace/kernel';
import { configuredLimits } from '@karapace/remote-http';
import { OciEnvRemote, type OciOptions } from './oci-remote.js';

export { OciEnvRemote, parseOciUrl, MEDIA, ANNOTATION_BLAKE3, ANNOTATION_BUNDLE, type OciOptions } from './oci-remote.js';
export { RegistryClient, parseChallenge } from './registry.js';

const PLUGIN_NAME = 'remote-oci';

export default definePlugin<OciOptions>({
  name: PLUGIN_NAME,
  validateOptions(options) {
    const o = (options ?? {}) as OciOptions;
    if (o.chunkSize !== undefined && (!Number.isInteger(o.chunkSize) || o.chunkSize < 0)) return 'chunkSize must be a non-negative integer (bytes)';
    return undefined;
  },
  apply(kernel, options) {
    kernel.hooks.remote.tapPromise(PLUGIN_NAME, async (request) => {
      if (!/^oci(\+https?)?:\/\//i.test(request.url)) return undefined;
      return new OciEnvRemote(request.url, request.token, options ?? {}, configuredLimits(kernel.config, request.url));
    });
  },
});
