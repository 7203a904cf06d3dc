/**
 * Host sockets bound into exec/enter: the session's (ssh-agent, D-Bus, display, audio) as
 * the security policy's hostIntegration allows (kernel/src/security/integration.ts), plus
 * display and audio whenever the manifest asks for them (`[gui] apps`, `[hardware] audio`).
 * Devices (/dev/dri, /dev/snd) come from the kernel's requestedDevices(). Sockets keep their
 * host paths, so DISPLAY, WAYLAND_DISPLAY, XDG_RUNTIME_DIR, SSH_AUTH_SOCK and
 * DBUS_SESSION_BUS_ADDRESS stay valid inside.
 */
import { existsSync } from 'node:fs';
import { integrationSockets, type NormalizedManifest, type SecurityPolicy } from '@karapace/kernel';

export interface SocketBind {
  source: string;
  target: string;
}

export function guiSockets(manifest: NormalizedManifest, environment: Record<string, string>, policy: Pick<SecurityPolicy, 'hostIntegration'>): SocketBind[] {
  const binds: SocketBind[] = integrationSockets(environment, policy, { display: manifest.gui.apps.length > 0, audio: manifest.hardware.audio })
    .map(({ source, target }) => ({ source, target }));
  const xauth = environment.XAUTHORITY;
  if (xauth && existsSync(xauth) && !binds.some((b) => b.source === xauth)) binds.push({ source: xauth, target: xauth });
  return binds;
}
