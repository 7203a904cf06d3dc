/**
 * Host integration for exec/enter (Toolbx and Distrobox users expect it): which variables of
 * the host session pass and which host sockets they need bound, each switch a separate
 * policy choice (SecurityPolicy.hostIntegration). The deny-list still wins over all of it.
 * A socket is bound at its own host path, so the variable keeps meaning the same thing
 * inside; a variable whose socket the host does not have is not passed.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { SecurityPolicy } from '../config/types.js';

export const PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'no_proxy', 'all_proxy', 'ftp_proxy']
  .flatMap((v) => [v, v.toUpperCase()]);

export interface HostSocket {
  /** Host path, and the same path inside. */
  source: string;
  target: string;
  why: 'ssh-agent' | 'dbus' | 'x11' | 'wayland' | 'pipewire' | 'pulseaudio';
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** `unix:path=/run/user/1000/bus[,guid=…]` → the path; other transports → undefined. */
export function dbusSocketPath(address: string | undefined): string | undefined {
  const m = /^unix:path=([^,;]+)/.exec(address ?? '');
  return m && isAbsolute(m[1]!) ? m[1] : undefined;
}

/** Variables the enabled integrations add (before the deny-list; filterEnvironment applies it). */
export function integrationEnvironment(hostEnv: NodeJS.ProcessEnv, policy: Pick<SecurityPolicy, 'hostIntegration'>): Record<string, string> {
  const on = policy.hostIntegration;
  const out: Record<string, string> = {};
  const auth = hostEnv.SSH_AUTH_SOCK;
  if (on.sshAgent && auth && isAbsolute(auth) && isSocket(auth)) out.SSH_AUTH_SOCK = auth;
  if (on.proxy) for (const v of PROXY_VARIABLES) if (hostEnv[v] !== undefined) out[v] = hostEnv[v]!;
  const bus = hostEnv.DBUS_SESSION_BUS_ADDRESS;
  const busPath = dbusSocketPath(bus);
  if (on.dbus && bus && busPath && isSocket(busPath)) out.DBUS_SESSION_BUS_ADDRESS = bus;
  if (on.display && hostEnv.XAUTHORITY && isAbsolute(hostEnv.XAUTHORITY) && existsSync(hostEnv.XAUTHORITY)) out.XAUTHORITY = hostEnv.XAUTHORITY;
  return out;
}

/**
 * Host sockets to bind for a process whose environment is `environment` (already filtered:
 * a variable the policy dropped binds nothing). `wanted` adds what the manifest asks for
 * whatever the policy's defaults ([gui] apps → display, [hardware] audio → audio).
 */
export function integrationSockets(
  environment: Record<string, string>,
  policy: Pick<SecurityPolicy, 'hostIntegration'>,
  wanted: { display?: boolean; audio?: boolean } = {},
): HostSocket[] {
  const on = policy.hostIntegration;
  const out: HostSocket[] = [];
  const add = (path: string | undefined, why: HostSocket['why'], kind: 'socket' | 'dir' = 'socket') => {
    if (!path || out.some((s) => s.source === path)) return;
    const ok = kind === 'socket' ? isSocket(path) : existsSync(path);
    if (ok) out.push({ source: path, target: path, why });
  };
  if (environment.SSH_AUTH_SOCK) add(environment.SSH_AUTH_SOCK, 'ssh-agent');
  if (environment.DBUS_SESSION_BUS_ADDRESS) add(dbusSocketPath(environment.DBUS_SESSION_BUS_ADDRESS), 'dbus');
  const runtimeDir = environment.XDG_RUNTIME_DIR;
  if (on.display || wanted.display) {
    const wayland = environment.WAYLAND_DISPLAY;
    if (wayland && (isAbsolute(wayland) || runtimeDir)) add(isAbsolute(wayland) ? wayland : join(runtimeDir!, wayland), 'wayland');
    // X11: the whole socket directory, so any display number works.
    if (environment.DISPLAY) add('/tmp/.X11-unix', 'x11', 'dir');
  }
  if ((on.audio || wanted.audio) && runtimeDir) {
    add(join(runtimeDir, 'pipewire-0'), 'pipewire');
    add(join(runtimeDir, 'pulse', 'native'), 'pulseaudio');
  }
  return out;
}
