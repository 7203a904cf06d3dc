/**
 * A desktop entry from inside an environment, turned into one for the host. The entry is
 * parsed as GLib parses it (export-key-file.ts) and a new one is written from the parsed
 * values: only keys we know are harmless are carried over, every `Exec` (the entry's and each
 * action's) becomes our launcher followed by the parsed arguments, and keys that run or
 * activate something on the host (TryExec, DBusActivatable, Path, URL, Implements, X-…, and
 * KDE's `[$e]` expansion) are never written.
 */
import { escapeValue, parseKeyFile, serializeKeyFile, unescapeList, unescapeValue, type KeyFile } from './export-key-file.js';
import { parseExecLine, quoteExecArg, type ExecArg } from './export-exec-line.js';

export class DesktopEntryError extends Error {}

export interface DesktopEntry {
  groups: KeyFile;
  /** The entry's `Icon` (a theme name or an absolute path in the environment), when readable. */
  icon?: string;
}

const MAIN = 'Desktop Entry';
const ACTION_ID = /^[A-Za-z0-9-]{1,64}$/;
/** A locale as the spec writes it: lang_COUNTRY.ENCODING@MODIFIER. */
const LOCALE = /^[A-Za-z]{2,8}(?:_[A-Za-z0-9]{2,8})?(?:\.[A-Za-z0-9-]{1,16})?(?:@[A-Za-z0-9]{1,16})?$/;
const MAX_VALUE = 4096;

/** Text keys and list keys carried over (with their localized forms where the spec localizes them). */
const STRINGS = ['Name', 'GenericName', 'Comment', 'StartupWMClass', 'Version'];
const LOCALIZED = new Set(['Name', 'GenericName', 'Comment', 'Keywords']);
const LISTS = ['Keywords', 'Categories', 'MimeType', 'OnlyShowIn', 'NotShowIn'];
const BOOLEANS = ['NoDisplay', 'Hidden', 'Terminal', 'StartupNotify', 'PrefersNonDefaultGPU', 'SingleMainWindow'];

export function parseDesktopEntry(text: string): DesktopEntry {
  let groups: KeyFile;
  try {
    groups = parseKeyFile(text);
  } catch (err) {
    throw new DesktopEntryError(`it is not a valid key file (${(err as Error).message})`);
  }
  const main = groups.get(MAIN);
  if (!main) throw new DesktopEntryError('it has no [Desktop Entry] group');
  const type = readString(main, 'Type');
  if (type !== 'Application') throw new DesktopEntryError(`its Type is ${type === undefined ? 'missing' : JSON.stringify(type)}, not Application`);
  if (readString(main, 'Name') === undefined) throw new DesktopEntryError('it has no Name');
  const icon = readString(main, 'Icon');
  return { groups, ...(icon ? { icon } : {}) };
}

export interface HostEntryOptions {
  /** argv that enters the environment; the app's own arguments follow it. */
  launch: string[];
  /** Shown after the app's name: "(label)". */
  label: string;
  envId: string;
  /** The `Icon` to write: a path of the exported icon, or a theme name. */
  icon?: string;
}

/** The host's desktop entry; throws when the entry's own Exec cannot be read as GLib would run it. */
export function hostDesktopEntry(entry: DesktopEntry, options: HostEntryOptions): string {
  const main = entry.groups.get(MAIN)!;
  const exec = execFor(main, options.launch);
  if (!exec) throw new DesktopEntryError('its Exec is missing or unreadable');
  const out: [string, string][] = [['Type', 'Application']];
  for (const key of STRINGS) {
    for (const [k, value] of variants(main, key)) {
      const text = key === 'Name' ? `${value} (${options.label})` : value;
      if (key === 'Version' && !/^\d+(\.\d+)*$/.test(text)) continue;
      out.push([k, escapeValue(text)]);
    }
  }
  for (const key of LISTS) {
    for (const [k, raw] of rawVariants(main, key)) {
      const items = unescapeList(raw)?.map(cleanText).filter((i) => i !== '');
      if (items?.length) out.push([k, items.map((i) => `${escapeValue(i, true)};`).join('')]);
    }
  }
  for (const key of BOOLEANS) {
    const value = readBoolean(main, key);
    if (value !== undefined) out.push([key, String(value)]);
  }
  if (options.icon) out.push(['Icon', escapeValue(options.icon)]);
  out.push(['Exec', exec]);
  const actions = actionsOf(entry.groups, main, options.launch);
  if (actions.length) out.push(['Actions', actions.map(([id]) => `${id};`).join('')]);
  out.push(['X-Karapace-Env', options.envId]);
  return serializeKeyFile([[MAIN, out], ...actions.map(([id, entries]): [string, [string, string][]] => [`Desktop Action ${id}`, entries])]);
}

/** Actions listed in `Actions` that have a group with a Name and a readable Exec; the others are left out. */
function actionsOf(groups: KeyFile, main: Map<string, string>, launch: string[]): [string, [string, string][]][] {
  const ids = unescapeList(main.get('Actions') ?? '') ?? [];
  const out: [string, [string, string][]][] = [];
  for (const id of new Set(ids)) {
    if (!ACTION_ID.test(id)) continue;
    const group = groups.get(`Desktop Action ${id}`);
    const exec = group && execFor(group, launch);
    if (!group || !exec || readString(group, 'Name') === undefined) continue;
    out.push([id, [...variants(group, 'Name').map(([k, v]): [string, string] => [k, escapeValue(v)]), ['Exec', exec]]]);
  }
  return out;
}

/** Our Exec: the launcher, then the entry's parsed arguments, each quoted. Undefined when GLib could not run the original. */
function execFor(group: Map<string, string>, launch: string[]): string | undefined {
  const raw = readString(group, 'Exec');
  if (raw === undefined) return undefined;
  let args: ExecArg[];
  try {
    args = parseExecLine(raw);
  } catch {
    return undefined;
  }
  const line = [...launch.map((a) => quoteExecArg(a)), ...args.map((a) => quoteExecArg(a))].join(' ');
  // Control characters other than tab, newline and CR cannot be escaped in a key file.
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(line)) throw new DesktopEntryError('its Exec has control characters');
  return escapeValue(line);
}

/** `key` and its localized forms (`key[xx]`, for keys the spec localizes), unescaped and cleaned; unreadable ones left out. */
function variants(group: Map<string, string>, key: string): [string, string][] {
  return rawVariants(group, key).flatMap(([k, raw]) => {
    const value = unescapeValue(raw);
    const text = value === undefined ? '' : cleanText(value);
    return text ? [[k, text] as [string, string]] : [];
  });
}

function rawVariants(group: Map<string, string>, key: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, raw] of group) {
    if (k === key) out.unshift([k, raw]);
    else if (LOCALIZED.has(key) && k.startsWith(`${key}[`) && k.endsWith(']') && LOCALE.test(k.slice(key.length + 1, -1))) out.push([k, raw]);
  }
  return out;
}

function readString(group: Map<string, string>, key: string): string | undefined {
  const raw = group.get(key);
  return raw === undefined ? undefined : unescapeValue(raw);
}

function readBoolean(group: Map<string, string>, key: string): boolean | undefined {
  const value = readString(group, key)?.trim();
  return value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : undefined;
}

/** Display text: no control characters (a newline in a Name is a space), bounded length. */
function cleanText(value: string): string {
  return value.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ').trim().slice(0, MAX_VALUE);
}
