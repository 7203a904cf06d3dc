/**
 * docs/json-output.md against the real `--json` output: every command has a row, and each
 * read-only command, run against a small mock store, prints exactly one JSON document on
 * stdout whose keys (and nested keys, where the doc spells them out) are the documented ones.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../cli/dist/commands/index.js';
import { mockManifest, REPO, sandbox } from '../helpers/cli.js';

interface Field {
  optional: boolean;
  /** The documented shape of an object value, or of an array's elements. */
  shape?: Shape;
}
type Shape = Map<string, Field>;

/** Splits at top-level commas (outside {}, [] and ()). */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if ('{[('.includes(ch)) depth++;
    if ('}])'.includes(ch)) depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur);
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** `{ a, b?, c: { d }, e: [{ f }] }` → its keys, with the shapes the doc gives. */
export function parseShape(spec: string): Shape {
  const inner = spec.trim().replace(/^\{/, '').replace(/\}$/, '');
  const shape: Shape = new Map();
  for (const part of splitTop(inner)) {
    const colon = part.indexOf(':');
    const rawKey = (colon < 0 ? part : part.slice(0, colon)).trim();
    const value = colon < 0 ? '' : part.slice(colon + 1).trim();
    const optional = rawKey.endsWith('?');
    const nested = /^\[?\s*(\{.*\})\s*\]?$/s.exec(value)?.[1];
    shape.set(optional ? rawKey.slice(0, -1) : rawKey, { optional, ...(nested ? { shape: parseShape(nested) } : {}) });
  }
  return shape;
}

/** The documented document of each command (or invocation, like `new --list`). */
function documented(): Map<string, Shape> {
  const text = readFileSync(join(REPO, 'docs/json-output.md'), 'utf8');
  const docs = new Map<string, Shape>();
  for (const line of text.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    if (cells.length < 4 || !cells[1]!.startsWith('`')) continue;
    const doc = /`(\{.*?\})`/.exec(cells[2]!)?.[1];
    if (!doc) continue;
    for (const [, command] of cells[1]!.matchAll(/`([^`]+)`/g)) docs.set(command!, parseShape(doc));
  }
  return docs;
}

/** Differences between a value and its documented shape, as readable paths. */
function mismatches(value: unknown, shape: Shape, at = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${at || 'document'} is not an object`];
  const out: string[] = [];
  const obj = value as Record<string, unknown>;
  for (const [key, field] of shape) {
    if (!(key in obj)) {
      if (!field.optional) out.push(`missing ${at}${key}`);
      continue;
    }
    const v = obj[key];
    if (!field.shape || v === null) continue;
    const items = Array.isArray(v) ? v : [v];
    items.forEach((item, i) => out.push(...mismatches(item, field.shape!, `${at}${key}${Array.isArray(v) ? `[${i}]` : ''}.`)));
  }
  for (const key of Object.keys(obj)) if (!shape.has(key)) out.push(`undocumented ${at}${key}`);
  return out;
}

test('docs/json-output.md has a document for every command but the interactive ones', (t) => {
  const docs = documented();
  const names = COMMANDS.map((c) => (c as { paths?: string[][] }).paths?.[0]?.[0]).filter((n): n is string => !!n);
  t.true(names.length > 20);
  const missing = names.filter((n) => !docs.has(n) && n !== 'enter' && n !== 'tui');
  t.deepEqual(missing, []);
  t.false(docs.has('enter'));
  t.false(docs.has('tui'));
  // The parser understands optional and nested keys.
  const build = docs.get('build')!;
  t.true(build.get('name')!.optional);
  t.false(build.get('env_id')!.optional);
  t.deepEqual([...build.get('packages')!.shape!.keys()], ['name', 'version']);
});

test('read-only commands print exactly one JSON document with the documented keys', async (t) => {
  const docs = documented();
  const box = sandbox('kp-json-');
  // Only the mock plugin: doctor's checks then depend on nothing slow or host-specific.
  box.write('.karapacerc.json', JSON.stringify({ builtins: false, defaultBackend: 'mock', plugins: [join(REPO, 'plugins/runtime-mock/dist/index.js')] }));
  box.write('p/karapace.toml', mockManifest({ image: 'mock:json', packages: ['jq'] }));
  const built = await box.run(['build', 'p', '--name', 'jsonenv', '--json']);
  t.is(built.code, 0, built.stderr);
  t.deepEqual(mismatches(JSON.parse(built.stdout), docs.get('build')!), []);
  // A snapshot and a change, so snapshots and diff have entries to check.
  t.is((await box.run(['commit', 'jsonenv', '-m', 'first'])).code, 0);
  t.is((await box.run(['exec', 'jsonenv', '--', 'sh', '-c', 'echo x > added.txt'])).code, 0);

  const runs: [string, string[], number[]][] = [
    ['list', ['list'], [0]],
    ['inspect', ['inspect', 'jsonenv'], [0]],
    ['snapshots', ['snapshots', 'jsonenv'], [0]],
    ['diff', ['diff', 'jsonenv'], [0]],
    ['doctor', ['doctor'], [0, 1]],
    ['verify-store', ['verify-store'], [0]],
    ['gc', ['gc', '--dry-run'], [0]],
    ['migrate', ['migrate'], [0]],
    ['completions', ['completions', 'bash'], [0]],
    ['completions --envs', ['completions', '--envs'], [0]],
    ['new --list', ['new', '--list'], [0]],
  ];
  for (const [doc, args, codes] of runs) {
    const r = await box.run([...args, '--json']);
    t.true(codes.includes(r.code), `${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    let value: unknown;
    // JSON.parse refuses anything after the first document, so this proves "exactly one".
    t.notThrows(() => { value = JSON.parse(r.stdout); }, `${args.join(' ')}: stdout is not one JSON document: ${r.stdout.slice(0, 200)}`);
    t.true(docs.has(doc), `no row for ${doc}`);
    t.deepEqual(mismatches(value, docs.get(doc)!), [], `karapace ${args.join(' ')} --json differs from docs/json-output.md`);
  }
  const snaps = JSON.parse((await box.run(['snapshots', 'jsonenv', '--json'])).stdout);
  t.is(snaps.snapshots.length, 1);
  const diff = JSON.parse((await box.run(['diff', 'jsonenv', '--json'])).stdout);
  t.true(diff.added.includes('added.txt'));
});
