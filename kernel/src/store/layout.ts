/** Paths inside a store root (DESIGN §6). One place, so the layout is written down once. */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

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
  };
}

export function objectPath(layout: StoreLayout, hash: string): string {
  return join(layout.objects, hash.slice(0, 2), hash.slice(2));
}

export function envDir(layout: StoreLayout, envId: string): string {
  return join(layout.envs, envId);
}

export function metadataPath(layout: StoreLayout, envId: string): string {
  return join(layout.metadata, `${envId}.json`);
}

/** `--store` > `KARAPACE_STORE` > config `store` > $XDG_DATA_HOME/karapace > ~/.local/share/karapace. */
export function defaultStoreRoot(options: { flag?: string; env?: NodeJS.ProcessEnv; config?: string }): string {
  const env = options.env ?? process.env;
  if (options.flag) return options.flag;
  if (env.KARAPACE_STORE) return env.KARAPACE_STORE;
  if (options.config) return options.config.startsWith('~/') ? join(homedir(), options.config.slice(2)) : options.config;
  const data = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  return join(data, 'karapace');
}
