/** Which overlay implementation the launcher uses. */
import { release } from 'node:os';
import { RuntimeFailure } from '@karapace/kernel';
import type { OverlayKind } from './argv.js';
import { findExecutable } from './ids.js';

/** Unprivileged overlayfs inside a user namespace arrived in Linux 5.11. */
export function kernelOverlayInUserns(kernelRelease = release()): boolean {
  const [major = 0, minor = 0] = kernelRelease.split(/[.-]/).map((n) => Number.parseInt(n, 10));
  return major > 5 || (major === 5 && minor >= 11);
}

export function chooseOverlay(option: 'auto' | 'kernel' | 'fuse' = 'auto'): OverlayKind {
  if (option === 'kernel') return { kind: 'kernel' };
  if (option === 'auto' && kernelOverlayInUserns()) return { kind: 'kernel' };
  const binary = findExecutable('fuse-overlayfs');
  if (binary) return { kind: 'fuse', binary };
  if (option === 'auto') return { kind: 'kernel' };
  throw new RuntimeFailure('KP_NS_NO_FUSE_OVERLAYFS', 'fuse-overlayfs was asked for but is not installed', {
    hint: 'install it (apt-get install fuse-overlayfs), or set the runtime-namespace option "overlay" to "auto"',
  });
}
