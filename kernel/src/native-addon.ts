/**
 * Where native/'s binaries are: the launcher, the static init and the N-API addons ship in
 * the @karapace/native package (a workspace in the repository, a dependency when
 * installed), resolved from the module that asks (kernel/dist, a plugin's dist, or the CLI
 * bundle). In that package a from-source build (build/, what `make -C native` writes) comes
 * before the prebuilt binaries for this platform (prebuilt/linux-x64, prebuilt/linux-arm64).
 * Every addon caller has a fallback for a machine without them, so a missing addon is
 * `null`, not an error; a missing executable is the caller's error, with `nativeBuildHint`.
 */
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NATIVE_PACKAGE = '@karapace/native';
/** The prebuilt directory for this machine, e.g. `linux-x64`. */
export const NATIVE_PLATFORM = `${process.platform}-${process.arch}`;

let packageDir: string | null | undefined;

/**
 * `file` (`<package>/<path>`) in the first node_modules up the tree from this module that has
 * it — where require() would look first — or undefined. A plain existsSync per directory:
 * require's resolution reads package.json files on the way.
 */
export function inNodeModules(file: string): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const found = join(dir, 'node_modules', file);
    if (existsSync(found)) return found;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The @karapace/native package directory, or null when it is neither installed nor in a checkout. */
export function nativePackageDir(): string | null {
  if (packageDir !== undefined) return packageDir;
  packageDir = null;
  // What require.resolve finds first, looked for directly: resolving it loads Node's resolver
  // for package exports, which costs every exec start-up time.
  const found = inNodeModules(`${NATIVE_PACKAGE}/package.json`);
  if (found) return (packageDir = dirname(realpathSync(found)));
  try {
    packageDir = dirname(createRequire(import.meta.url).resolve('@karapace/native/package.json'));
  } catch {
    // A checkout whose node_modules predates the native workspace: native/ above this module.
    for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
      if (existsSync(join(dir, 'native', 'package.json'))) {
        packageDir = join(dir, 'native');
        break;
      }
    }
  }
  return packageDir;
}

/** Directories searched for a native binary, most preferred first. */
export function nativeDirs(): string[] {
  const dir = nativePackageDir();
  return dir ? [join(dir, 'build'), join(dir, 'prebuilt', NATIVE_PLATFORM)] : [];
}

/** Path of a native executable or addon file for this machine, or undefined when there is none. */
export function nativeBinary(file: string): string | undefined {
  return nativeDirs().map((d) => join(d, file)).find((p) => existsSync(p));
}

/** What to do when a native binary is missing: names the platform and the from-source build. */
export function nativeBuildHint(file: string): string {
  const dir = nativePackageDir();
  if (!dir) return `install ${NATIVE_PACKAGE} (a dependency of @karapace/kernel) so ${file} can be found`;
  return `${NATIVE_PACKAGE} has no prebuilt ${file} for ${NATIVE_PLATFORM}; build it from source with \`node ${join(dir, 'build-from-source.mjs')}\` (needs gcc, make and libc6-dev)`;
}

/**
 * Loads the addon at `file` (an absolute path) as require() would, without require's module
 * resolution: for a path that lies in a package, that reads package.json files up the tree,
 * which costs exec more start-up time than loading the addon itself.
 */
export function loadAddonFile<T>(file: string): T {
  const module = { exports: {} as T };
  process.dlopen(module, file);
  return module.exports;
}

const loaded = new Map<string, unknown>();

export function nativeAddon<T>(name: string): T | null {
  if (loaded.has(name)) return loaded.get(name) as T | null;
  let addon: T | null = null;
  for (const dir of nativeDirs()) {
    const file = join(dir, `${name}.node`);
    if (!existsSync(file)) continue;
    try {
      addon = loadAddonFile<T>(file);
      break;
    } catch {
      /* built for another platform or Node ABI: the next location */
    }
  }
  loaded.set(name, addon);
  return addon;
}
