import type { MountSpec, ResourceLimits } from '../manifest/types.js';
import type { ResolvedPackage } from '../types.js';

export const LOCK_VERSION = 1;

/** `karapace.lock` (DESIGN §5). Everything env_id is computed from lives here. */
export interface LockFile {
  lock_version: 1;
  env_id: string;
  short_id: string;
  base: {
    /** The reference as written in the manifest. */
    image: string;
    /** Where it was fetched from. */
    source: string;
    /** blake3 of the canonical rootfs walk. */
    digest: string;
    package_manager: string;
  };
  backend: string;
  hardware: { gpu: boolean; audio: boolean };
  network_isolation: boolean;
  mounts: MountSpec[];
  resource_limits: ResourceLimits;
  /** `[runtime] home = "env"`; absent = the host's home (and absent from identity, so older ids hold). */
  home?: 'env';
  apps: string[];
  resolved_packages: ResolvedPackage[];
}
