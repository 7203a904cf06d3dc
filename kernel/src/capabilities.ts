import { ManifestError } from './errors.js';
import type { Kernel } from './kernel.js';
import type { NormalizedManifest } from './manifest/types.js';

/**
 * What a backend can enforce. A backend declares them when it registers
 * (`kernel.registerBackend({ name, capabilities, … })`); a manifest asking for one its backend
 * lacks is refused at build (KP_BACKEND_UNSUPPORTED) instead of silently ignored.
 */
export const BACKEND_CAPABILITIES = Object.freeze([
  /** A read-only root for frozen environments (`karapace freeze`). */
  'readOnlyRoot',
  /** `[mounts]`: host directories bound into the environment. */
  'mounts',
  /** `[runtime] network_isolation = true`: no network but loopback. */
  'networkIsolation',
  /** `[runtime.resource_limits]`: memory and CPU limits. */
  'resourceLimits',
  /** `[hardware] gpu`/`audio`: host devices passed in. */
  'devices',
  /** `karapace enter`: an interactive terminal. */
  'tty',
  /** `[runtime] home = "env"`: a home of the env's own, the host's hidden. */
  'envHome',
  /**
   * The root is the upper dir over `env.lowerDirs` (overlay), so a build's packages can live
   * in a shared, read-only packages layer (docs/storage-format.md). Without it the install
   * stays in the upper dir. Asked by the build, not by a manifest key.
   */
  'lowerLayers',
] as const);

export type BackendCapability = (typeof BACKEND_CAPABILITIES)[number];
export type BackendCapabilities = Readonly<Partial<Record<BackendCapability, boolean>>>;

/** What a manifest asks of its backend: each capability with the manifest key that asks for it. */
export function requiredCapabilities(manifest: NormalizedManifest): { capability: BackendCapability; key: string }[] {
  const out: { capability: BackendCapability; key: string }[] = [];
  for (const m of manifest.mounts) out.push({ capability: 'mounts', key: `mounts.${m.label}` });
  if (manifest.runtime.network_isolation) out.push({ capability: 'networkIsolation', key: 'runtime.network_isolation' });
  for (const key of ['memory_limit_mb', 'cpu_shares'] as const) {
    if (manifest.runtime.resource_limits[key] !== undefined) out.push({ capability: 'resourceLimits', key: `runtime.resource_limits.${key}` });
  }
  if (manifest.hardware.gpu) out.push({ capability: 'devices', key: 'hardware.gpu' });
  if (manifest.hardware.audio) out.push({ capability: 'devices', key: 'hardware.audio' });
  if (manifest.runtime.home === 'env') out.push({ capability: 'envHome', key: 'runtime.home' });
  return out;
}

/** What one run asks beyond the manifest: a terminal (enter), a read-only root (frozen). */
export interface RunRequirements {
  tty?: boolean;
  readOnly?: boolean;
}

function runCapabilities(run: RunRequirements): { capability: BackendCapability; key: string }[] {
  const out: { capability: BackendCapability; key: string }[] = [];
  if (run.tty) out.push({ capability: 'tty', key: 'enter (a terminal)' });
  if (run.readOnly) out.push({ capability: 'readOnlyRoot', key: 'frozen (a read-only root)' });
  return out;
}

/**
 * Refuses (exit 2) a manifest, or a run (`run`: checked again when it runs, since the backend
 * plugin may have changed since the build), asking for what its backend does not declare,
 * naming every key and the backend. A backend that taps the hooks without registerBackend declares
 * nothing the kernel can check, and is not refused.
 */
export function checkBackendCapabilities(kernel: Kernel, manifest: NormalizedManifest, run: RunRequirements = {}): void {
  const backend = manifest.runtime.backend.toLowerCase();
  const info = kernel.backendInfo(backend);
  if (!info) return;
  const required = [...requiredCapabilities(manifest), ...runCapabilities(run)];
  const missing = required.filter((r) => info.capabilities[r.capability] !== true);
  if (missing.length === 0) return;
  const able = (c: BackendCapability) => kernel.backends.filter((b) => kernel.backendInfo(b)?.capabilities[c] === true);
  const first = missing[0]!;
  throw new ManifestError(
    'KP_BACKEND_UNSUPPORTED',
    `backend "${backend}" (plugin "${info.plugin}") does not support ${missing.map((m) => `${m.key} (${m.capability})`).join(', ')}, which the manifest asks for`,
    {
      hint: `remove ${missing.length > 1 ? 'those keys' : `${first.key}`} or pick a backend that supports ${first.capability}: ${able(first.capability).join(', ') || 'none registered'}`,
      data: { backend, plugin: info.plugin, missing },
    },
  );
}
