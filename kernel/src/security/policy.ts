import { DEFAULT_SECURITY, type KarapaceConfig, type SecurityPolicy } from '../config/types.js';

/** The effective policy: defaults overridden by config (lists replace, they don't merge). */
export function securityPolicy(config: KarapaceConfig): SecurityPolicy {
  return { ...DEFAULT_SECURITY, ...(config.security ?? {}) } as SecurityPolicy;
}
