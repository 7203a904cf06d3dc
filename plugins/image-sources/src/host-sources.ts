/**
 * The host's own Debian archive, read from its apt sources (`/etc/apt/sources.list`, and the
 * `.list` and deb822 `.sources` files in `sources.list.d`): what `bootstrap:debian/…` uses
 * when no `mirror` is configured, so a machine that reaches only its own mirror bootstraps
 * from it and no mirror host is written into karapace. The archive is the first `deb` entry
 * with a suite that is not `-security`, `-updates` or `-backports` (those are other archives
 * or pockets that mmdebstrap adds by itself for stable suites).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface SourceEntry {
  types: string[];
  uris: string[];
  suites: string[];
}

const POCKET = /-(security|updates|backports|proposed-updates)$/;

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** `deb [options] URI SUITE COMPONENT...` lines. */
export function parseOneLineSources(text: string): SourceEntry[] {
  const out: SourceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const words = line.replace(/\[[^\]]*\]/, ' ').trim().split(/\s+/);
    const [type, uri, suite] = words;
    if (type && uri && suite) out.push({ types: [type], uris: [uri], suites: [suite] });
  }
  return out;
}

/** deb822 stanzas (`Types:`, `URIs:`, `Suites:`), `Enabled: no` skipped. */
export function parseDeb822Sources(text: string): SourceEntry[] {
  const out: SourceEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last = '';
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      if (/^\s/.test(raw) && last) {
        fields[last] += ` ${raw.trim()}`;
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) fields[(last = m[1]!.toLowerCase())] = m[2]!.trim();
    }
    if ((fields.enabled ?? 'yes').toLowerCase() === 'no') continue;
    const words = (k: string) => (fields[k] ?? '').split(/\s+/).filter(Boolean);
    if (words('uris').length && words('suites').length) out.push({ types: words('types'), uris: words('uris'), suites: words('suites') });
  }
  return out;
}

export function debianArchive(entries: SourceEntry[]): string | undefined {
  for (const e of entries) {
    if (!e.types.includes('deb')) continue;
    if (!e.suites.some((s) => !POCKET.test(s))) continue;
    const uri = e.uris.find((u) => /^https?:\/\//.test(u) && !/security/.test(u));
    if (uri) return uri.replace(/\/+$/, '');
  }
  return undefined;
}

/** The host's Debian archive URI, or undefined (not a Debian-family host, or none configured). */
export function hostDebianMirror(etcApt = '/etc/apt'): string | undefined {
  const entries = parseOneLineSources(read(join(etcApt, 'sources.list')));
  let names: string[] = [];
  try {
    names = readdirSync(join(etcApt, 'sources.list.d')).sort();
  } catch {
    // no directory
  }
  for (const name of names) {
    const text = read(join(etcApt, 'sources.list.d', name));
    if (name.endsWith('.list')) entries.push(...parseOneLineSources(text));
    else if (name.endsWith('.sources')) entries.push(...parseDeb822Sources(text));
  }
  return debianArchive(entries);
}
