import { DEFAULT_SECURITY, type KarapaceConfig, type SecurityPolicy } from '../config/types.js';

/**
 * The effective policy: defaults overridden by config (lists replace, they don't merge;
 * `hostIntegration` switches are merged one by one, so `{ "sshAgent": false }` keeps the rest).
 */
export function securityPolicy(config: KarapaceConfig): SecurityPolicy {
  const own = config.security ?? {};
  return {
    ...DEFAULT_SECURITY,
    ...own,
    hostIntegration: { ...DEFAULT_SECURITY.hostIntegration, ...(own.hostIntegration ?? {}) },
  } as SecurityPolicy;
}
