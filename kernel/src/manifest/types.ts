/** A mount as written in `[mounts]`: `label = "host:container[:ro]"`. */
export interface MountSpec {
  label: string;
  /** Host path exactly as written (relative or `~` kept: identity never sees machine paths). */
  host: string;
  container: string;
  readOnly: boolean;
}

export interface ResourceLimits {
  cpu_shares?: number;
  memory_limit_mb?: number;
}

/** The manifest after validation and normalization (DESIGN §4). */
export interface NormalizedManifest {
  manifest_version: 1;
  base: { image: string };
  system: { packages: string[] };
  gui: { apps: string[] };
  hardware: { gpu: boolean; audio: boolean };
  mounts: MountSpec[];
  runtime: {
    backend: string;
    network_isolation: boolean;
    resource_limits: ResourceLimits;
    /** `home = "env"`: a home of the environment's own at your home's path, the host's hidden; absent = the host's home. */
    home?: 'env';
  };
}
