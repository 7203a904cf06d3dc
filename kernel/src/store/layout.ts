/** Paths inside a store root (DESIGN §6). One place, so the layout is written down once. */
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { StoreError, UsageError } from '../errors.js';

export interface StoreLayout {
  root: string;
  store: string;
  version: string;
  lockFile: string;
  objects: string;
  layers: string;
  metadata: string;
  staging: string;
  wal: string;
  envs: string;
  images: string;
  /** Homes of envs with `[runtime] home = "env"`, by env name (or short id): user data, kept across rebuilds. */
  homes: string;
  /**
   * How the store removes a tree whose files may belong to ids only a backend's mapping can
   * remove (set by the engine: mapped/run.ts removeStoreTree); WAL recovery and the staging
   * sweep use it. Unset: removeTree, as the user.
   */
  removeTree?: (path: string) => Promise<void>;
  /** The running index (store/running-index.ts): a mark per environment that may be running. */
  running: string;
}

export function storeLayout(root: string): StoreLayout {
  const store = join(root, 'store');
  return {
    root,
    store,
    version: join(store, 'version'),
    lockFile: join(store, '.lock'),
    objects: join(store, 'objects'),
    layers: join(store, 'layers'),
    metadata: join(store, 'metadata'),
    staging: join(store, 'staging'),
    wal: join(store, 'wal'),
    envs: join(root, 'env'),
    images: join(root, 'images'),
    homes: join(root, 'homes'),
    running: join(root, 'running'),
  };
}

export function objectPath(layout: StoreLayout, hash: string): string {
  return join(layout.objects, hash.slice(0, 2), hash.slice(2));
}

export function envDir(layout: StoreLayout, envId: string): string {
  return join(layout.envs, envId);
}

/**
 * The home of an env with `[runtime] home = "env"`: by its name, so it follows the name to a
 * rebuilt env (an unnamed env's, or one whose name is no plain file name, by its short id).
 */
export function envHomeDir(layout: StoreLayout, env: { name?: string; shortId: string }): string {
  const key = env.name && !env.name.includes('/') && !env.name.startsWith('.') ? env.name : env.shortId;
  return join(layout.homes, key);
}

export function metadataPath(layout: StoreLayout, envId: string): string {
  return join(layout.metadata, `${envId}.json`);
}

/**
 * `--store` > `KARAPACE_STORE` > config `store` > $XDG_DATA_HOME/karapace > ~/.local/share/karapace.
 * Every front end (full CLI, fast paths, completions) resolves the store here, so a bad
 * path is refused the same way everywhere: an empty `--store` is a usage error (not the
 * default), a path that is, or lies below, a non-directory is a store error.
 */
export function defaultStoreRoot(options: { flag?: string; env?: NodeJS.ProcessEnv; config?: string }): string {
  const env = options.env ?? process.env;
  if (options.flag !== undefined) {
    if (!options.flag.trim()) throw new UsageError('KP_STORE_PATH_EMPTY', '--store is empty', { hint: 'pass the store directory (`--store ~/karapace-store`), or leave --store out to use the default' });
    return checkStoreRoot(options.flag, '--store');
  }
  if (env.KARAPACE_STORE) return checkStoreRoot(env.KARAPACE_STORE, 'KARAPACE_STORE');
  if (options.config) return checkStoreRoot(options.config.startsWith('~/') ? join(homedir(), options.config.slice(2)) : options.config, 'config `store`');
  const data = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  return checkStoreRoot(join(data, 'karapace'), 'the default store');
}

/** The store root is a directory, or can be created as one: its nearest existing ancestor is a directory. */
function checkStoreRoot(root: string, source: string): string {
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    let isDir: boolean;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dir !== dirname(dir)) continue;
      return root; // unreadable: the store's own operations report it with their context
    }
    if (isDir) return root;
    const what = dir === resolve(root) ? `${root} is not a directory` : `${root} cannot be a directory: ${dir} is a file`;
    throw new StoreError('KP_STORE_NOT_DIRECTORY', `the store path (${source}) ${what}`, {
      hint: 'name a directory (it is created when missing), e.g. `--store ~/.local/share/karapace`',
      data: { path: root, blocking: dir },
    });
  }
}
