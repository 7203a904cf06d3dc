/**
 * Resource limits through cgroup v2 delegation. A sandbox gets its own leaf cgroup under the
 * nearest ancestor of our cgroup that we may write and whose subtree has the controllers
 * enabled (root, or a systemd `Delegate=yes` unit such as user@UID.service). On cgroup v1
 * hosts, or without delegation, limits cannot be enforced: the caller reports that (doctor,
 * a warning at build) instead of ignoring it.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ResourceLimits } from '@karapace/kernel';

const CGROUP_ROOT = '/sys/fs/cgroup';

export type CgroupSupport =
  | { kind: 'v2-delegated'; parent: string; controllers: string[] }
  | { kind: 'v1'; detail: string }
  | { kind: 'v2-not-delegated'; detail: string };

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Controllers a limit needs. */
export function neededControllers(limits: ResourceLimits): string[] {
  const needed: string[] = [];
  if (limits.memory_limit_mb !== undefined) needed.push('memory');
  if (limits.cpu_shares !== undefined) needed.push('cpu');
  return needed;
}

export function cgroupSupport(needed: string[] = ['memory', 'cpu'], root = CGROUP_ROOT, selfCgroup = read('/proc/self/cgroup') ?? ''): CgroupSupport {
  if (!existsSync(join(root, 'cgroup.controllers'))) {
    return { kind: 'v1', detail: `${root} is not a cgroup v2 (unified) hierarchy` };
  }
  const line = selfCgroup.split('\n').find((l) => l.startsWith('0::'));
  if (!line) return { kind: 'v1', detail: 'this process is not in the cgroup v2 hierarchy (hybrid setup)' };
  let dir = join(root, line.slice(3).trim());
  // Walk up from our own cgroup to the first one that delegates what we need.
  for (;;) {
    const subtree = (read(join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/).filter(Boolean);
    if (needed.every((c) => subtree.includes(c)) && writable(dir) && writable(join(dir, 'cgroup.procs'))) {
      return { kind: 'v2-delegated', parent: dir, controllers: subtree };
    }
    if (dir === root || dir.length <= root.length) break;
    dir = dirname(dir);
  }
  return { kind: 'v2-not-delegated', detail: `no writable cgroup above ${line.slice(3).trim()} has ${needed.join('+')} enabled for its children` };
}

/** cgroup v1 cpu.shares (2..262144, default 1024) → v2 cpu.weight (1..10000, default 100). */
export function sharesToWeight(shares: number): number {
  const clamped = Math.min(262144, Math.max(2, shares));
  // Integer arithmetic, as runc and crun convert it.
  return 1 + Math.floor(((clamped - 2) * 9999) / 262142);
}

export interface SandboxCgroup {
  path: string;
  /** Moves a process in (the launcher, right after it started: its children follow). */
  add(pid: number): void;
  remove(): void;
}

/** Creates `<parent>/karapace-<id>-<n>` with the limits written; undefined when nothing to limit. */
export function createSandboxCgroup(support: CgroupSupport, limits: ResourceLimits, id: string): SandboxCgroup | undefined {
  if (support.kind !== 'v2-delegated' || neededControllers(limits).length === 0) return undefined;
  const path = join(support.parent, `karapace-${id}-${process.pid}-${Date.now()}`);
  mkdirSync(path);
  try {
    if (limits.memory_limit_mb !== undefined) writeFileSync(join(path, 'memory.max'), String(limits.memory_limit_mb * 1024 * 1024));
    if (limits.cpu_shares !== undefined) writeFileSync(join(path, 'cpu.weight'), String(sharesToWeight(limits.cpu_shares)));
  } catch (err) {
    rmdirSync(path);
    throw err;
  }
  return {
    path,
    add: (pid) => writeFileSync(join(path, 'cgroup.procs'), String(pid)),
    remove: () => {
      try {
        rmdirSync(path);
      } catch {
        // still has processes (a sandbox that outlived us): the kernel keeps it; harmless
      }
    },
  };
}

export function describeCgroupSupport(s: CgroupSupport): string {
  return s.kind === 'v2-delegated' ? `cgroup v2, delegated at ${s.parent} (${s.controllers.join(' ')})` : s.detail;
}

export const CGROUP_FIX =
  'resource limits need cgroup v2 with delegation: boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2), ' +
  'and delegate controllers to users (`systemctl edit user@.service` → [Service] Delegate=memory cpu), or run as root on a cgroup v2 host';
