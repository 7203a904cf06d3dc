/**
 * The manifest schema: which tables and keys exist, and a typanion validator for each leaf.
 * Unknown keys are errors (with a did-you-mean), so the schema is also the list of keys.
 */
import * as t from 'typanion';

export type Leaf = t.StrictValidator<unknown, unknown>;
export interface Table {
  [key: string]: Leaf | Table;
}

const isPositiveInt = t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(1, Number.MAX_SAFE_INTEGER)]);

export const MANIFEST_SCHEMA: Table = {
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

/** `[mounts]` holds free-form labels, each a string. */
export const isMountValue: Leaf = t.isString();
export const MOUNT_LABEL = /^[A-Za-z0-9_-]{1,64}$/;

export function isTable(node: Leaf | Table): node is Table {
  return typeof node === 'object' && node !== null;
}
