/**
 * Lazily loaded dependencies. `exec` start-up time is a product feature: modules that only
 * some commands need are required on first use, not when the kernel is imported.
 */
import { createRequire } from 'node:module';
import type TOMLModule from '@iarna/toml';

const require = createRequire(import.meta.url);
let toml: Pick<typeof TOMLModule, 'parse' | 'stringify'> | undefined;

/**
 * The string parser and the stringifier only: the package's index also loads its async and
 * stream parsers (and node:stream), which nothing here uses, and that cost a build more
 * than its manifest and lock.
 */
export function TOML(): Pick<typeof TOMLModule, 'parse' | 'stringify'> {
  toml ??= {
    parse: require('@iarna/toml/parse-string.js') as typeof TOMLModule.parse,
    stringify: require('@iarna/toml/stringify.js') as typeof TOMLModule.stringify,
  };
  return toml;
}
