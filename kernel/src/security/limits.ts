/** Resource limits checked against the policy's maxima before anything runs. */
import { ManifestError } from '../errors.js';
import type { SecurityPolicy } from '../config/types.js';
import type { ResourceLimits } from '../manifest/types.js';

export function checkResourceLimits(limits: ResourceLimits, policy: Pick<SecurityPolicy, 'maxMemoryMb' | 'maxCpuShares'>): void {
  if (limits.memory_limit_mb !== undefined && limits.memory_limit_mb > policy.maxMemoryMb) {
    throw new ManifestError('KP_LIMIT_EXCEEDS_POLICY', `memory_limit_mb ${limits.memory_limit_mb} exceeds the policy maximum ${policy.maxMemoryMb}`, {
      hint: 'lower [runtime.resource_limits] memory_limit_mb, or raise security.maxMemoryMb in your config',
    });
  }
  if (limits.cpu_shares !== undefined && limits.cpu_shares > policy.maxCpuShares) {
    throw new ManifestError('KP_LIMIT_EXCEEDS_POLICY', `cpu_shares ${limits.cpu_shares} exceeds the policy maximum ${policy.maxCpuShares}`, {
      hint: 'lower [runtime.resource_limits] cpu_shares, or raise security.maxCpuShares in your config',
    });
  }
}
