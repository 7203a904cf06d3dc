/**
 * Loading native/'s N-API addons (built by `make -C native` at install). They sit in
 * native/build/ two directories above this module: kernel/dist/ in the repository, and
 * cli/dist/bundle/ in the CLI bundle. Every caller has a fallback for a machine where
 * they could not be built (no C toolchain), so a missing addon is `null`, not an error.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const loaded = new Map<string, unknown>();

export function nativeAddon<T>(name: string): T | null {
  if (loaded.has(name)) return loaded.get(name) as T | null;
  let addon: T | null = null;
  try {
    const file = join(dirname(fileURLToPath(import.meta.url)), '../../native/build', `${name}.node`);
    addon = createRequire(import.meta.url)(file) as T;
  } catch {
    addon = null;
  }
  loaded.set(name, addon);
  return addon;
}
