/** Devices pass through only when the manifest asks: gpu → /dev/dri, audio → /dev/snd. */
import { existsSync } from 'node:fs';
import type { NormalizedManifest } from '../manifest/types.js';

function asked(manifest: NormalizedManifest): { key: string; path: string }[] {
  const devices: { key: string; path: string }[] = [];
  if (manifest.hardware.gpu) devices.push({ key: 'gpu', path: '/dev/dri' });
  if (manifest.hardware.audio) devices.push({ key: 'audio', path: '/dev/snd' });
  return devices;
}

export function requestedDevices(manifest: NormalizedManifest): string[] {
  return asked(manifest).map((d) => d.path).filter((d) => existsSync(d));
}

/** What the manifest asks for that this host lacks, as one warning line (undefined: nothing missing). */
export function missingDevicesWarning(manifest: NormalizedManifest, exists: (path: string) => boolean = existsSync): string | undefined {
  const missing = asked(manifest).filter((d) => !exists(d.path));
  if (!missing.length) return undefined;
  return `[hardware] ${missing.map((d) => `${d.key} = true`).join(', ')} but this host has no ${missing.map((d) => d.path).join(' or ')}: the environment runs without ${missing.length > 1 ? 'them' : 'it'}`;
}
