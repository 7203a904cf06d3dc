/**
 * A subordinate id range to suggest (`usermod --add-subuids A-B`) that overlaps nobody's:
 * after every range /etc/subuid and /etc/subgid already grant, aligned to 65536 and not below
 * 100000 (useradd's SUB_UID_MIN). A suggestion that overlaps another user's range would give
 * both users power over each other's files.
 */
import { readFileSync } from 'node:fs';

export function freeSubidRange(contents: string[], count = 65536): { start: number; end: number } {
  let end = 100000;
  for (const text of contents) {
    for (const line of text.split('\n')) {
      const [, s, c] = line.trim().split(':');
      const start = Number(s);
      const n = Number(c);
      if (Number.isInteger(start) && Number.isInteger(n) && n > 0) end = Math.max(end, start + n);
    }
  }
  const start = Math.ceil(end / 65536) * 65536;
  return { start, end: start + count - 1 };
}

/** The `usermod` line that grants `user` a free range on this host. */
export function subidFix(user: string, files = ['/etc/subuid', '/etc/subgid']): string {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  const { start, end } = freeSubidRange(files.map(read));
  return `sudo usermod --add-subuids ${start}-${end} --add-subgids ${start}-${end} ${user}`;
}
