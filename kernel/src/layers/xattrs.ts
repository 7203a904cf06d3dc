/**
 * Extended attributes and overlayfs markers. xattrs through @napi-rs/xattr (prebuilt,
 * l*xattr: never follows symlinks); device nodes and whiteouts through native/'s mknod
 * addon (Node has no mknod), or mknod(1) where the addon could not be built.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { inNodeModules, loadAddonFile, nativeAddon } from '../native-addon.js';

interface XattrApi {
  listAttributesSync(path: string): string[];
  getAttributeSync(path: string, name: string): Buffer | null;
  setAttributeSync(path: string, name: string, value: Uint8Array | string): void;
  removeAttributeSync(path: string, name: string): void;
}

const require = createRequire(import.meta.url);
let api: XattrApi | null | undefined;
let loadedFrom: 'platform' | 'package' | null = null;

/** Where this process's xattr functions came from: the platform addon, the generic package, or none. */
export function xattrLoader(): 'platform' | 'package' | null {
  xattrApi();
  return loadedFrom;
}

function xattrApi(): XattrApi | null {
  if (api === undefined) {
    // The platform package's addon directly (glibc Linux), as hash.ts does: the generic loader
    // probes for musl (reading /usr/bin/ldd) and resolves two packages, which cost exec (it
    // reads /etc/passwd's layers, overlay markers included) more than the rest of its work.
    const target = `${process.platform}-${process.arch}-gnu`;
    const file = inNodeModules(`@napi-rs/xattr-${target}/xattr.${target}.node`);
    try {
      api = file ? loadAddonFile<XattrApi>(file) : null;
      if (api) loadedFrom = 'platform';
    } catch {
      api = null; // not loadable here (another libc): the generic loader decides
    }
    if (!api) {
      try {
        api = require('@napi-rs/xattr') as XattrApi;
        loadedFrom = 'package';
      } catch {
        api = null;
      }
    }
  }
  return api;
}

/** overlayfs' private attributes: turned into OCI markers, never copied as data. */
export function isOverlayPrivate(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

const OPAQUE_NAMES = ['trusted.overlay.opaque', 'user.overlay.opaque'];
const WHITEOUT_NAMES = ['trusted.overlay.whiteout', 'user.overlay.whiteout'];

export interface XattrSet {
  /** Data xattrs, sorted by name. */
  data: [string, Buffer][];
  opaque: boolean;
  /** overlayfs's xattr form of a whiteout (a regular file flagged whiteout). */
  whiteout: boolean;
}

const EMPTY: XattrSet = { data: [], opaque: false, whiteout: false };

export function readXattrs(path: string): XattrSet {
  const x = xattrApi();
  if (!x) return EMPTY;
  let names: string[];
  try {
    names = x.listAttributesSync(path);
  } catch {
    return EMPTY; // filesystem without xattr support
  }
  if (names.length === 0) return EMPTY;
  const data: [string, Buffer][] = [];
  let opaque = false;
  let whiteout = false;
  for (const name of names.sort()) {
    if (isOverlayPrivate(name)) {
      if (OPAQUE_NAMES.includes(name)) opaque ||= x.getAttributeSync(path, name)?.toString() === 'y';
      if (WHITEOUT_NAMES.includes(name)) whiteout = true;
      continue;
    }
    const value = x.getAttributeSync(path, name);
    if (value) data.push([name, value]);
  }
  return { data, opaque, whiteout };
}

export function writeXattr(path: string, name: string, value: Uint8Array | string): void {
  const x = xattrApi();
  if (!x) throw new Error(`cannot set xattr ${name} on ${path}: @napi-rs/xattr is not available`);
  x.setAttributeSync(path, name, value);
}

/**
 * Marks a directory opaque for overlayfs. `trusted.` is what a privileged overlay reads,
 * `user.` what an unprivileged one (userxattr) reads: set both where allowed.
 */
export function markOpaque(path: string): void {
  let ok = false;
  for (const name of ['trusted.overlay.opaque', 'user.overlay.opaque']) {
    try {
      writeXattr(path, name, 'y');
      ok = true;
    } catch {
      /* trusted.* needs CAP_SYS_ADMIN */
    }
  }
  if (!ok) throw new Error(`cannot mark ${path} opaque (no xattr support?)`);
}

/**
 * Creates an overlay whiteout: a 0/0 character device, or — where mknod is not allowed
 * (unprivileged) — overlayfs's xattr form (an empty file flagged `user.overlay.whiteout`
 * inside a directory flagged `user.overlay.whiteouts`, Linux ≥ 6.7).
 */
export function makeWhiteout(path: string, parent: string): 'device' | 'xattr' {
  if (mknodDevice(path, 'c', 0, 0, 0)) return 'device';
  rmSync(path, { force: true });
  closeSync(openSync(path, 'wx', 0o000));
  writeXattr(path, 'user.overlay.whiteout', '');
  writeXattr(parent, 'user.overlay.whiteouts', '');
  return 'xattr';
}

type MknodFn = (path: string, type: 'c' | 'b' | 'p', major: number, minor: number, mode: number) => void;

/** Creates a device node or fifo with exactly `mode`; false when that is not allowed here (unprivileged). */
export function mknodDevice(path: string, kind: 'c' | 'b' | 'p', major: number, minor: number, mode: number): boolean {
  const mknod = nativeAddon<{ mknod: MknodFn }>('karapace_mknod')?.mknod;
  if (mknod) {
    try {
      mknod(path, kind, major, minor, mode & 0o7777);
      return true;
    } catch {
      return false;
    }
  }
  const args = ['-m', (mode & 0o7777).toString(8), path, kind, ...(kind === 'p' ? [] : [String(major), String(minor)])];
  return spawnSync('mknod', args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
}
