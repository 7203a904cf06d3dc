/**
 * Manifest parsing: TOML → strict validation → normalization (DESIGN §4). Every problem is
 * reported with the file, the line where it can be found, and the key; all problems are
 * reported at once.
 */
import { TOML } from '../lazy.js';
import { readFileSync } from 'node:fs';
import { ManifestError } from '../errors.js';
import { suggest } from './did-you-mean.js';
import { locateKey } from './locate.js';
import { APP_NAME_HINT, appFileName } from './app-name.js';
import { MOUNT_LABEL, integerRange, isTable, manifestSchema, type Leaf, type Table } from './schema.js';
import type { MountSpec, NormalizedManifest } from './types.js';

export interface ManifestProblem {
  file: string;
  line?: number;
  key: string;
  message: string;
}

export interface ParseOptions {
  /** Backend when the manifest names none (from config `defaultBackend`). */
  defaultBackend?: string;
}

export function readManifestFile(file: string, options: ParseOptions = {}): NormalizedManifest {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ManifestError('KP_MANIFEST_UNREADABLE', `cannot read manifest ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, {
      hint: code === 'ENOENT' ? 'create one with `karapace new <name>` or pass the path of an existing karapace.toml' : 'check the file permissions',
      cause: err,
    });
  }
  return parseManifest(source, file, options);
}

export function parseManifest(source: string, file = 'karapace.toml', options: ParseOptions = {}): NormalizedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = TOML().parse(source) as Record<string, unknown>;
  } catch (err) {
    const e = err as { line?: number; col?: number; message: string };
    const line = typeof e.line === 'number' ? e.line + 1 : undefined;
    const first = e.message.split('\n')[0];
    throw problemsError([{ file, line, key: '(syntax)', message: `TOML syntax error${e.col !== undefined ? ` at column ${e.col + 1}` : ''}: ${first}` }]);
  }
  const problems: ManifestProblem[] = [];
  const at = (path: string[], message: string) => problems.push({ file, line: locateKey(source, path), key: path.join('.'), message });
  checkTable(doc, manifestSchema(), [], { at, source });
  checkMounts(doc.mounts, at);
  checkApps((doc.gui as Record<string, unknown> | undefined)?.apps, at);
  if (doc.manifest_version === undefined) at(['manifest_version'], 'is required and must be 1');
  const image = (doc.base as Record<string, unknown> | undefined)?.image;
  if (image === undefined) at(['base', 'image'], 'is required (an alias like "debian/bookworm", a URL, a path or a registry reference)');
  else if (typeof image === 'string' && !image.trim()) at(['base', 'image'], 'must not be empty');
  if (problems.length) throw problemsError(problems);
  return normalize(doc, options);
}

interface CheckContext {
  at: (p: string[], m: string) => void;
  source: string;
}

function checkTable(value: unknown, schema: Table, path: string[], ctx: CheckContext): void {
  const { at } = ctx;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    at(path, `must be a table`);
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    const keyPath = [...path, key];
    if (path.length === 0 && key === 'mounts') continue;
    const node = schema[key];
    if (!node) {
      const close = suggest(key, Object.keys(schema).concat(path.length === 0 ? ['mounts'] : []));
      at(keyPath, `unknown key${close ? ` (did you mean "${[...path, close].join('.')}"?)` : ''}`);
      continue;
    }
    if (isTable(node)) {
      checkTable(child, node, keyPath, ctx);
      continue;
    }
    const range = integerRange(node);
    if (range) {
      if (!node(child)) {
        const allowed = range.min === range.max ? `${range.min}` : `an integer from ${range.min} to ${range.max}`;
        at(keyPath, `must be ${allowed} (got ${literalOf(ctx.source, keyPath) ?? describe(child)})`);
      }
      continue;
    }
    const errors: string[] = [];
    // typanion cannot print a BigInt (an integer beyond ±2^53−1) in its messages.
    if (!(node as Leaf)(withoutBigInts(child), { errors })) {
      at(keyPath, errors.map((e) => e.replace(/^\.\s*:?\s*/, '')).join('; ') || 'invalid value');
    }
  }
}

/** The value as written in the source, for messages (the parsed value of a huge integer has wrapped). */
function literalOf(source: string, path: string[]): string | undefined {
  const line = locateKey(source, path);
  if (line === undefined) return undefined;
  const key = path[path.length - 1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`(?:^|[\\s{,."'])${key}["']?\\s*=\\s*([-+0-9A-Za-z_.:]+)`);
  // The line found may be the table's header or an inline table's key: look until the next header.
  const lines = source.split(/\r?\n/).slice(line - 1);
  for (const [i, text] of lines.entries()) {
    if (i > 0 && /^\s*\[/.test(text)) break;
    const m = pattern.exec(text.replace(/#.*$/, ''));
    if (m) return m[1];
  }
  return undefined;
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return 'an integer beyond ±9007199254740991';
  if (typeof value === 'number') return Number.isNaN(value) ? 'nan' : Number.isFinite(value) ? String(value) : value > 0 ? 'inf' : '-inf';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return value instanceof Date ? 'a date' : 'a table';
  return String(value);
}

function withoutBigInts(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(withoutBigInts);
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutBigInts(v)]));
  return value;
}

/** App names end up in host file names (see app-name.ts); the type itself is the schema's to report. */
function checkApps(apps: unknown, at: (p: string[], m: string) => void): void {
  if (!Array.isArray(apps)) return;
  for (const app of apps) {
    if (typeof app === 'string' && app.trim() && appFileName(app.trim()) === undefined) at(['gui', 'apps'], `${JSON.stringify(app)} is not an app name: ${APP_NAME_HINT}`);
  }
}

function checkMounts(mounts: unknown, at: (p: string[], m: string) => void): void {
  if (mounts === undefined) return;
  if (typeof mounts !== 'object' || mounts === null || Array.isArray(mounts)) {
    at(['mounts'], 'must be a table of label = "host:container[:ro]"');
    return;
  }
  for (const [label, value] of Object.entries(mounts)) {
    if (!MOUNT_LABEL.test(label)) at(['mounts', label], 'labels use letters, digits, "_" and "-" (1–64 chars)');
    if (typeof value !== 'string') {
      at(['mounts', label], `must be a string "host:container[:ro]"`);
      continue;
    }
    const problem = mountProblem(String(value));
    if (problem) at(['mounts', label], problem);
  }
}

function mountProblem(spec: string): string | undefined {
  const parts = spec.trim().split(':');
  if (parts.length < 2 || parts.length > 3) return `"${spec}" must be "host:container" or "host:container:ro"`;
  const [host, container, mode] = parts as [string, string, string?];
  if (!host) return 'the host path is empty';
  if (!container.startsWith('/')) return `the container path "${container}" must be absolute`;
  if (container.split('/').includes('..')) return `the container path "${container}" must not contain ".."`;
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') return `the mode "${mode}" must be "ro" or "rw"`;
  return undefined;
}

export function parseMountSpec(label: string, spec: string): MountSpec {
  const [host, container, mode] = spec.trim().split(':') as [string, string, string?];
  return { label, host: host.trim(), container: container.trim().replace(/\/+$/, '') || '/', readOnly: mode === 'ro' };
}

function sortedUnique(values: unknown): string[] {
  const list = Array.isArray(values) ? values.map((v) => String(v).trim()).filter(Boolean) : [];
  return [...new Set(list)].sort();
}

function normalize(doc: Record<string, any>, options: ParseOptions): NormalizedManifest {
  const runtime = doc.runtime ?? {};
  const limits = runtime.resource_limits ?? {};
  const mounts = Object.entries((doc.mounts ?? {}) as Record<string, string>)
    .map(([label, spec]) => parseMountSpec(label, spec))
    .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return {
    manifest_version: 1,
    base: { image: String(doc.base.image).trim() },
    system: { packages: sortedUnique(doc.system?.packages) },
    gui: { apps: sortedUnique(doc.gui?.apps) },
    hardware: { gpu: doc.hardware?.gpu === true, audio: doc.hardware?.audio === true },
    mounts,
    runtime: {
      backend: String(runtime.backend ?? options.defaultBackend ?? 'namespace').trim().toLowerCase(),
      network_isolation: runtime.network_isolation === true,
      resource_limits: {
        ...(limits.cpu_shares !== undefined ? { cpu_shares: limits.cpu_shares } : {}),
        ...(limits.memory_limit_mb !== undefined ? { memory_limit_mb: limits.memory_limit_mb } : {}),
      },
      ...(runtime.home === 'env' ? { home: 'env' as const } : {}),
    },
  };
}

function problemsError(problems: ManifestProblem[]): ManifestError {
  const lines = problems.map((p) => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.key}: ${p.message}`);
  return new ManifestError('KP_MANIFEST_INVALID', problems.length === 1 ? `invalid manifest: ${lines[0]}` : `invalid manifest:\n  ${lines.join('\n  ')}`, {
    hint: 'fix the manifest; see the manifest reference in docs/manifest.md',
    data: { problems },
  });
}
