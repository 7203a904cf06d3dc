/**
 * Loading native/'s N-API addons (built by `make -C native` at install), from native/build/
 * at the repository root: two directories above this module in kernel/dist/, three above
 * the chunk it lands in in the CLI bundle (cli/dist/bundle/). Every caller has a fallback
 * for a machine where they could not be built (no C toolchain), so a missing addon is
 * `null`, not an error.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const loaded = new Map<string, unknown>();

export function nativeAddon<T>(name: string): T | null {
  if (loaded.has(name)) return loaded.get(name) as T | null;
  let addon: T | null = null;
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    try {
      addon = createRequire(import.meta.url)(join(here, up, 'native/build', `${name}.node`)) as T;
      break;
    } catch {
      /* the other location */
    }
  }
  loaded.set(name, addon);
  return addon;
}
