/**
 * The subset of npm's semver ranges a plugin uses to name the kernel API it supports
 * (`"karapace": { "kernelApi": "^1" }`): `^1`, `^1.2`, `~1.2.3`, `1.x`, `1.2.*`, `*`, `1.2.3`,
 * comparators (`>=1.1 <3`) joined by spaces, and alternatives joined by `||`.
 * Versions here never carry prerelease tags.
 */
type Version = [number, number, number];

function parse(text: string): { v: Version; given: number } | undefined {
  const m = /^v?(\d+|[x*])(?:\.(\d+|[x*]))?(?:\.(\d+|[x*]))?$/i.exec(text);
  if (!m) return undefined;
  const parts = [m[1], m[2], m[3]];
  const given = parts.findIndex((p) => p === undefined || /[x*]/i.test(p));
  return { v: parts.map((p) => (p === undefined || /[x*]/i.test(p) ? 0 : Number(p))) as Version, given: given < 0 ? 3 : given };
}

function cmp(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** The first version past a partial one: 1 → 2.0.0, 1.2 → 1.3.0. */
function bump(v: Version, at: number): Version {
  if (at <= 0) return [Infinity, 0, 0];
  const out = [...v] as Version;
  out[at - 1]! += 1;
  for (let i = at; i < 3; i++) out[i] = 0;
  return out;
}

function comparator(version: Version, token: string): boolean {
  const m = /^(\^|~|>=|<=|>|<|=)?(.+)$/.exec(token);
  if (!m) return false;
  const parsed = parse(m[2]!);
  if (!parsed) throw new Error(`not a version range: "${token}"`);
  const { v, given } = parsed;
  const c = cmp(version, v);
  switch (m[1]) {
    case '>=': return c >= 0;
    case '>': return given === 3 ? c > 0 : cmp(version, bump(v, given)) >= 0;
    case '<=': return given === 3 ? c <= 0 : cmp(version, bump(v, given)) < 0;
    case '<': return c < 0;
    case '~': return c >= 0 && cmp(version, bump(v, Math.min(given, 2) || 1)) < 0;
    case '^': {
      // ^1.2.3 → <2, ^0.2.3 → <0.3, ^0.0.3 → <0.0.4; partial versions bump what was given.
      const first = v[0] !== 0 || given <= 1 ? 1 : v[1] !== 0 || given === 2 ? 2 : 3;
      return c >= 0 && cmp(version, bump(v, first)) < 0;
    }
    default: return c >= 0 && cmp(version, bump(v, given)) < 0 || (given === 3 && c === 0);
  }
}

/** Whether `version` (x.y.z) lies in `range`; throws on a range it cannot read. */
export function satisfiesRange(version: string, range: string): boolean {
  const v = parse(version)?.v;
  if (!v) throw new Error(`not a version: "${version}"`);
  return range.split('||').some((alt) => {
    const tokens = alt.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter(Boolean);
    return tokens.length === 0 || tokens.every((t) => comparator(v, t));
  });
}
