/** @karapace/remote-http/server — the reference server, usable without its bin. */
export { startServer, DEFAULTS, type ServerOptions, type RunningServer } from './server.js';
export { loadTokensFile, tokenEntry, authorize, sha256Hex, type AuthConfig, type TokenEntry, type Scope } from './auth.js';
export { BlobStorage } from './storage.js';
