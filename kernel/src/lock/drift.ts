/** Differences between a manifest and the lock written from it (`build --locked`). */
import type { NormalizedManifest } from '../manifest/types.js';
import type { LockFile } from './types.js';

export interface Drift {
  key: string;
  manifest: unknown;
  lock: unknown;
}

export function lockDrift(manifest: NormalizedManifest, lock: LockFile): Drift[] {
  const drift: Drift[] = [];
  const cmp = (key: string, m: unknown, l: unknown) => {
    if (JSON.stringify(m) !== JSON.stringify(l)) drift.push({ key, manifest: m, lock: l });
  };
  cmp('base.image', manifest.base.image, lock.base.image);
  const locked = lock.resolved_packages.map((p) => p.name).sort();
  const added = manifest.system.packages.filter((p) => !locked.includes(p));
  const removed = locked.filter((p) => !manifest.system.packages.includes(p));
  for (const p of added) drift.push({ key: `system.packages`, manifest: p, lock: null });
  for (const p of removed) drift.push({ key: `system.packages`, manifest: null, lock: p });
  cmp('gui.apps', manifest.gui.apps, lock.apps);
  cmp('hardware.gpu', manifest.hardware.gpu, lock.hardware.gpu);
  cmp('hardware.audio', manifest.hardware.audio, lock.hardware.audio);
  cmp('mounts', manifest.mounts, lock.mounts);
  cmp('runtime.backend', manifest.runtime.backend, lock.backend);
  cmp('runtime.network_isolation', manifest.runtime.network_isolation, lock.network_isolation);
  cmp('runtime.resource_limits', manifest.runtime.resource_limits, lock.resource_limits);
  cmp('runtime.home', manifest.runtime.home ?? 'host', lock.home ?? 'host');
  return drift;
}

export function describeDrift(d: Drift): string {
  if (d.key === 'system.packages') return d.lock === null ? `package "${d.manifest}" is in the manifest but not in the lock` : `package "${d.lock}" is in the lock but not in the manifest`;
  return `${d.key}: manifest has ${JSON.stringify(d.manifest)}, lock has ${JSON.stringify(d.lock)}`;
}
