/**
 * The manifest schema: which tables and keys exist, and a typanion validator for each leaf.
 * Unknown keys are errors (with a did-you-mean), so the schema is also the list of keys.
 * Built on first use: commands that never parse a manifest (exec) don't pay for it.
 */
import type * as T from 'typanion';
import { createRequire } from 'node:module';

export type Leaf = T.StrictValidator<unknown, unknown>;
export interface Table {
  [key: string]: Leaf | Table;
}

const require = createRequire(import.meta.url);
let schema: Table | undefined;

export function manifestSchema(): Table {
  if (schema) return schema;
  const t = require('typanion') as typeof T;
  const isPositiveInt = t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(1, Number.MAX_SAFE_INTEGER)]);
  schema = {
    manifest_version: t.isNumber(),
    base: { image: t.isString() },
    system: { packages: t.isArray(t.isString()) },
    gui: { apps: t.isArray(t.isString()) },
    hardware: { gpu: t.isBoolean(), audio: t.isBoolean() },
    runtime: {
      backend: t.isString(),
      network_isolation: t.isBoolean(),
      resource_limits: { cpu_shares: isPositiveInt, memory_limit_mb: isPositiveInt },
    },
  };
  return schema;
}

export const MOUNT_LABEL = /^[A-Za-z0-9_-]{1,64}$/;

/** Tables are plain objects; leaves are validator functions. */
export function isTable(node: Leaf | Table): node is Table {
  return typeof node === 'object' && node !== null;
}
