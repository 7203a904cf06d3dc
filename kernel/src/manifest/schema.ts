/**
 * The manifest schema: which tables and keys exist, and a typanion validator for each leaf.
 * Unknown keys are errors (with a did-you-mean), so the schema is also the list of keys.
 * Built on first use: commands that never parse a manifest (exec) don't pay for it, and
 * typanion itself loads only to explain a value that is refused (see `leaf`).
 */
import type * as T from 'typanion';
import { createRequire } from 'node:module';

export type Leaf = T.StrictValidator<unknown, unknown>;
export interface Table {
  [key: string]: Leaf | Table;
}

/** An integer key and its allowed range (checked in parse.ts, which also sees the source text). */
export interface IntegerRange {
  integer: { min: number; max: number };
}

/** cgroup v1 cpu.shares range (runc and crun convert it to cgroup v2 cpu.weight). */
export const CPU_SHARES_RANGE = { min: 1, max: 262144 };
/** The byte count (MiB × 2^20) must stay a safe integer for the backends that compute it. */
export const MEMORY_LIMIT_MB_RANGE = { min: 1, max: Math.floor(Number.MAX_SAFE_INTEGER / 2 ** 20) };

const require = createRequire(import.meta.url);
let schema: Table | undefined;

export function manifestSchema(): Table {
  if (schema) return schema;
  const isString = (v: unknown): boolean => typeof v === 'string';
  const isBoolean = (v: unknown): boolean => typeof v === 'boolean';
  const isStrings = (v: unknown): boolean => Array.isArray(v) && v.every(isString);
  schema = {
    manifest_version: integerIn(1, 1),
    base: { image: leaf(isString, (t) => t.isString()) },
    system: { packages: leaf(isStrings, (t) => t.isArray(t.isString())) },
    gui: { apps: leaf(isStrings, (t) => t.isArray(t.isString())) },
    hardware: { gpu: leaf(isBoolean, (t) => t.isBoolean()), audio: leaf(isBoolean, (t) => t.isBoolean()) },
    runtime: {
      backend: leaf(isString, (t) => t.isString()),
      network_isolation: leaf(isBoolean, (t) => t.isBoolean()),
      home: leaf((v) => v === 'host' || v === 'env', (t) => t.isEnum(['host', 'env'])),
      resource_limits: { cpu_shares: integerIn(CPU_SHARES_RANGE.min, CPU_SHARES_RANGE.max), memory_limit_mb: integerIn(MEMORY_LIMIT_MB_RANGE.min, MEMORY_LIMIT_MB_RANGE.max) },
    },
  };
  return schema;
}

/**
 * A typanion leaf behind a plain check that accepts only values typanion accepts too: a
 * valid manifest is decided by the check alone, and typanion (~13 M instructions to load,
 * a tenth of a second build's own work) loads only for a value the check refuses, to accept
 * it after all or to say why not in its words. test/kernel/manifest.test.ts holds each
 * check to its typanion validator.
 */
function leaf(accepts: (value: unknown) => boolean, make: (t: typeof T) => Leaf): Leaf {
  let full: Leaf | undefined;
  return ((value: unknown, state?: T.ValidationState) => accepts(value) || (full ??= make(require('typanion') as typeof T))(value, state)) as Leaf;
}

/**
 * A leaf accepting a JavaScript safe integer in [min, max]. TOML integers beyond ±2^53−1
 * arrive from the parser as (64-bit wrapped) BigInts: never in range, whatever they wrapped to.
 */
function integerIn(min: number, max: number): Leaf & IntegerRange {
  const leaf = ((value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max) as Leaf & IntegerRange;
  leaf.integer = { min, max };
  return leaf;
}

export function integerRange(node: Leaf): IntegerRange['integer'] | undefined {
  return (node as Partial<IntegerRange>).integer;
}

export const MOUNT_LABEL = /^[A-Za-z0-9_-]{1,64}$/;

/** Tables are plain objects; leaves are validator functions. */
export function isTable(node: Leaf | Table): node is Table {
  return typeof node === 'object' && node !== null;
}
