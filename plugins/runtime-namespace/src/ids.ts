/**
 * How ids are mapped into the user namespace (DESIGN §7, native/PROTOCOL.md "Ids"):
 * - `root`: karapace runs as root → identity map of every id (no subordinate ids needed);
 * - `full`: /etc/subuid and /etc/subgid grant the user a range and newuidmap/newgidmap exist
 *   → the user's own id keeps its number, container root and other ids use the range
 *   (like `podman --userns=keep-id`);
 * - `single`: only the user's own id is mapped; package installs run as container root
 *   with chown faked by the launcher's seccomp filter (--fake-chown).
 */
import { readFileSync } from 'node:fs';
import { findExecutable as findOnPath } from '@karapace/kernel';

export type MapMode = 'root' | 'full' | 'single';

export interface SubidRange {
  start: number;
  count: number;
}

/** First range of `/etc/subuid`-style content that names the user (by name or uid). */
export function findSubidRange(content: string, name: string, id: number): SubidRange | undefined {
  for (const line of content.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (!who || start === undefined || count === undefined) continue;
    if (who !== name && who !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isInteger(s) && Number.isInteger(c) && c > 0) return { start: s, count: c };
  }
  return undefined;
}

function readSubids(file: string, name: string, id: number): SubidRange | undefined {
  try {
    return findSubidRange(readFileSync(file, 'utf8'), name, id);
  } catch {
    return undefined;
  }
}

/** Absolute path of a helper on PATH or in /usr/sbin, /usr/bin (sbin is often not on a user's PATH). */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  return findOnPath(name, path, ['/usr/sbin', '/usr/bin', '/sbin', '/bin']);
}

export interface IdFacts {
  mode: MapMode;
  subuid?: SubidRange;
  subgid?: SubidRange;
  newuidmap?: string;
  newgidmap?: string;
}

export function idFacts(user: { uid: number; name: string }, files = { subuid: '/etc/subuid', subgid: '/etc/subgid' }): IdFacts {
  if (user.uid === 0) return { mode: 'root' };
  const subuid = readSubids(files.subuid, user.name, user.uid);
  const subgid = readSubids(files.subgid, user.name, user.uid);
  const newuidmap = findExecutable('newuidmap');
  const newgidmap = findExecutable('newgidmap');
  const full = subuid && subgid && newuidmap && newgidmap;
  return { mode: full ? 'full' : 'single', subuid, subgid, newuidmap, newgidmap };
}

/**
 * The plugin option `idMapping: "single"` forces single-id mode (for hosts whose subordinate
 * ranges should not be used, and to exercise the fake-chown path as root).
 */
export function chooseMapMode(facts: IdFacts, option: 'auto' | 'single' | undefined): MapMode {
  return option === 'single' ? 'single' : facts.mode;
}
