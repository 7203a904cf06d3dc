/**
 * Lazily loaded dependencies. `exec` start-up time is a product feature: modules that only
 * some commands need are required on first use, not when the kernel is imported.
 */
import { createRequire } from 'node:module';
import type TOMLModule from '@iarna/toml';

const require = createRequire(import.meta.url);
let toml: typeof TOMLModule | undefined;

export function TOML(): typeof TOMLModule {
  toml ??= require('@iarna/toml') as typeof TOMLModule;
  return toml;
}
