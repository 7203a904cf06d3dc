/**
 * GUI and audio passthrough, only when the manifest asks: `[gui] apps` (display sockets)
 * and `[hardware] audio` (PipeWire/PulseAudio sockets). Devices (/dev/dri, /dev/snd) come
 * from the kernel's requestedDevices(). Sockets keep their host paths, so DISPLAY,
 * WAYLAND_DISPLAY and XDG_RUNTIME_DIR (passed by the env allow-list) stay valid inside.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { NormalizedManifest } from '@karapace/kernel';

export interface SocketBind {
  source: string;
  target: string;
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

export function guiSockets(manifest: NormalizedManifest, env: NodeJS.ProcessEnv): SocketBind[] {
  const runtimeDir = env.XDG_RUNTIME_DIR;
  const binds: SocketBind[] = [];
  const add = (path: string | undefined) => {
    if (path && isSocket(path) && !binds.some((b) => b.source === path)) binds.push({ source: path, target: path });
  };
  if (manifest.gui.apps.length > 0) {
    const wayland = env.WAYLAND_DISPLAY;
    if (wayland && runtimeDir) add(isAbsolute(wayland) ? wayland : join(runtimeDir, wayland));
    // X11: the whole socket directory, so any display number works.
    if (env.DISPLAY && existsSync('/tmp/.X11-unix')) binds.push({ source: '/tmp/.X11-unix', target: '/tmp/.X11-unix' });
    if (env.XAUTHORITY && existsSync(env.XAUTHORITY)) binds.push({ source: env.XAUTHORITY, target: env.XAUTHORITY });
  }
  if (manifest.hardware.audio && runtimeDir) {
    add(join(runtimeDir, 'pipewire-0'));
    add(join(runtimeDir, 'pulse', 'native'));
  }
  return binds;
}
