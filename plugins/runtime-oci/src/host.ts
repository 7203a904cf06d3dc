/** Facts about this host that decide which runtime can work and what a bundle may ask for. */
import { existsSync, statfsSync } from 'node:fs';

const CGROUP2_MAGIC = 0x63677270;

export type CgroupLayout = 'unified' | 'hybrid' | 'legacy' | 'none';

/**
 * cgroup v2 only (`unified`), v1 with the v2 hierarchy beside it (`hybrid`, systemd's
 * /sys/fs/cgroup/unified), v1 only (`legacy`), or nothing mounted.
 */
export function cgroupLayout(root = '/sys/fs/cgroup'): CgroupLayout {
  try {
    if (statfsSync(root).type === CGROUP2_MAGIC) return 'unified';
  } catch {
    return 'none';
  }
  try {
    if (existsSync(`${root}/unified`) && statfsSync(`${root}/unified`).type === CGROUP2_MAGIC) return 'hybrid';
  } catch {
    // fall through: v1 only
  }
  return existsSync(`${root}/memory`) || existsSync(`${root}/cpu`) ? 'legacy' : 'none';
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** crun refuses cgroup v1 hosts that also mount a cgroup v2 hierarchy ("cgroups in hybrid mode not supported"). */
export function knownUnsupported(runtime: string, layout: CgroupLayout = cgroupLayout()): string | undefined {
  if (runtime === 'crun' && layout === 'hybrid') {
    return 'crun does not support cgroups in hybrid mode (cgroup v1 with a cgroup v2 hierarchy beside it), which is how this host is set up';
  }
  return undefined;
}
