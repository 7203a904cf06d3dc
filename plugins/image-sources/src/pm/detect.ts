/** Detects the package manager of a rootfs from marker files (never following symlinks out of it). */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PackageManagerName } from '@karapace/kernel';
import { apk } from './apk.js';
import { apt } from './apt.js';
import { dnf } from './dnf.js';
import { pacman } from './pacman.js';
import type { PackageManagerAdapter } from './types.js';
import { zypper } from './zypper.js';

/** In detection order: zypper before dnf (openSUSE may ship both rpm front ends' bits). */
export const ADAPTERS: readonly PackageManagerAdapter[] = [apt, zypper, dnf, pacman, apk];

export function adapterFor(name: PackageManagerName): PackageManagerAdapter | undefined {
  return ADAPTERS.find((a) => a.name === name);
}

/** True when `rel` exists in `rootfs` and every directory on the way is a real directory. */
async function present(rootfs: string, rel: string): Promise<boolean> {
  const parts = rel.split('/');
  let cur = rootfs;
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i]!);
    const st = await lstat(cur).catch(() => undefined);
    if (!st) return false;
    if (i < parts.length - 1 && !st.isDirectory()) return false;
  }
  return true;
}

export async function detectPackageManager(rootfs: string): Promise<PackageManagerName> {
  for (const adapter of ADAPTERS) {
    for (const marker of adapter.markers) if (await present(rootfs, marker)) return adapter.name;
  }
  return 'none';
}
