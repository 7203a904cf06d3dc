/** Devices pass through only when the manifest asks: gpu → /dev/dri, audio → /dev/snd. */
import { existsSync } from 'node:fs';
import type { NormalizedManifest } from '../manifest/types.js';

export function requestedDevices(manifest: NormalizedManifest): string[] {
  const devices: string[] = [];
  if (manifest.hardware.gpu) devices.push('/dev/dri');
  if (manifest.hardware.audio) devices.push('/dev/snd');
  return devices.filter((d) => existsSync(d));
}
