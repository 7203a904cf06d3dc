/**
 * Lazily loaded dependencies. `exec` start-up time is a product feature: modules that only
 * some commands need are required on first use, not when the kernel is imported.
 */
import { createRequire } from 'node:module';
import type TOMLModule from '@iarna/toml';

const here = createRequire(import.meta.url);
let toml: Pick<typeof TOMLModule, 'parse' | 'stringify'> | undefined;

/**
 * The string parser and the stringifier only: the package's index also loads its async and
 * stream parsers (and node:stream), which nothing here uses, and that cost a build more
 * than its manifest and lock.
 */
export function TOML(): Pick<typeof TOMLModule, 'parse' | 'stringify'> {
  // In the CommonJS fast bundles `require` is the bundle's own: esbuild bundles these two
  // (initialised here, on first use) into their code cache, instead of Node resolving and
  // compiling them from node_modules on every build. Run unbundled, as an ES module, the
  // package's files are required from here.
  toml ??= typeof require === 'function'
    ? { parse: require('@iarna/toml/parse-string.js') as typeof TOMLModule.parse, stringify: require('@iarna/toml/stringify.js') as typeof TOMLModule.stringify }
    : { parse: here('@iarna/toml/parse-string.js') as typeof TOMLModule.parse, stringify: here('@iarna/toml/stringify.js') as typeof TOMLModule.stringify };
  return toml;
}
