/** Every path under a store with its size: a refused pull must leave this equal. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export function storeListing(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (name === '.lock' || name === '.lock.owner') continue;
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      out.push(`${relative(root, p)} ${st.isDirectory() ? 'd' : st.size}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}
