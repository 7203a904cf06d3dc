/**
 * Environment identity (DESIGN §5): blake3 over a canonical list computed from the lock's
 * resolved data only — never from unresolved names or tags, never from machine paths.
 */
import { canonicalJson } from '../canonical-json.js';
import { hashBytes } from '../hash.js';
import type { LockFile } from './types.js';

export const SHORT_ID_LENGTH = 12;
const IDENTITY_DOMAIN = 'karapace-env-v1';

export type IdentityInput = Omit<LockFile, 'lock_version' | 'env_id' | 'short_id'>;

/** The exact list that is hashed; exposed so `inspect --trace` and tests can show it. */
export function identityMaterial(lock: IdentityInput): unknown[] {
  const packages = [...new Set(lock.resolved_packages.map((p) => `${p.name}@${p.version}`))].sort();
  return [
    IDENTITY_DOMAIN,
    ['base', lock.base.digest],
    ['packages', packages],
    ['apps', [...new Set(lock.apps)].sort()],
    ['hardware', { gpu: lock.hardware.gpu, audio: lock.hardware.audio }],
    ['mounts', [...lock.mounts].sort((a, b) => (a.label < b.label ? -1 : 1)).map((m) => [m.label, m.host, m.container, m.readOnly])],
    ['backend', lock.backend],
    ['network_isolation', lock.network_isolation],
    ['resource_limits', lock.resource_limits],
    // Only when set: every env built before `home` existed keeps its id.
    ...(lock.home === 'env' ? [['home', 'env']] : []),
  ];
}

export function computeEnvId(lock: IdentityInput): { env_id: string; short_id: string } {
  const env_id = hashBytes(canonicalJson(identityMaterial(lock)));
  return { env_id, short_id: env_id.slice(0, SHORT_ID_LENGTH) };
}
