/**
 * Finds the line of a key in TOML source text. @iarna/toml reports positions only for
 * syntax errors, so validation errors are located by scanning table headers and keys.
 */
export function locateKey(source: string, path: readonly string[]): number | undefined {
  const lines = source.split(/\r?\n/);
  const unquote = (s: string) => s.trim().replace(/^["']|["']$/g, '');
  const splitKey = (s: string) => s.split('.').map(unquote);
  let table: string[] = [];
  let tableLine: number | undefined;
  let best: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim();
    if (!line) continue;
    const header = /^\[\[?([^\]]+)\]\]?$/.exec(line);
    if (header) {
      table = splitKey(header[1]!);
      tableLine = i + 1;
      if (sameStart(table, path) && table.length === path.length) best ??= i + 1;
      continue;
    }
    const kv = /^([A-Za-z0-9_\-."' ]+?)\s*=/.exec(line);
    if (!kv) continue;
    const full = [...table, ...splitKey(kv[1]!)];
    if (full.length === path.length && sameStart(full, path)) return i + 1;
    if (best === undefined && full.length > path.length && sameStart(path, full.slice(0, path.length))) best = i + 1;
  }
  return best ?? (path.length > 0 && sameStart(table, path.slice(0, table.length)) ? tableLine : undefined);
}

function sameStart(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
