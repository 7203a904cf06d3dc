/**
 * The one place that builds karapace-sandbox's argv (the contract is native/PROTOCOL.md): a
 * new sandbox, a join, and store work inside the id mapping.
 * Everything the sandbox will contain is decided here, from the environment (EnvHandle),
 * the request (SpawnRequest) and facts about the host gathered by the backend.
 */
import { existsSync } from 'node:fs';
import { relative, isAbsolute, sep } from 'node:path';
import { requestedDevices, resolveMounts, type EnvHandle, type EtcPlan, type IdentityFiles, type InvokingUser, type ResolvedMount, type SecurityPolicy, type SpawnRequest } from '@karapace/kernel';
import type { MapMode } from './ids.js';
import type { SocketBind } from './gui.js';

/** Where karapace-host-exec and its socket are inside (native/host-exec.h). */
export const HOST_EXEC_SOCKET = '/run/karapace-host-exec.sock';
export const HOST_EXEC_CLIENT = '/usr/local/bin/karapace-host-exec';

export type OverlayKind = { kind: 'kernel' } | { kind: 'fuse'; binary: string };

/** Host facts the argv depends on; the backend gathers them (tests pass their own). */
export interface LauncherContext {
  user: InvokingUser;
  policy: Pick<SecurityPolicy, 'allowedMountPrefixes'>;
  mapMode: MapMode;
  overlay: OverlayKind;
  /** Generated /etc/passwd and /etc/group (exec/enter only). */
  identity?: IdentityFiles;
  /** The host's resolv.conf, copied in when the process may use the network. */
  resolvConf?: string;
  /** Display/audio sockets to bind (see gui.ts). */
  sockets?: SocketBind[];
  /** The caller's working directory, kept when it is visible inside. */
  hostCwd?: string;
  /** Generated /etc files (hosts, localtime, sudoers) and the variables that go with them. */
  etc?: EtcPlan;
  /**
   * Let setuid binaries work (no no_new_privs) for exec/enter: sudo inside. Only where the
   * namespace's root owns the image (full or root mapping); never with --fake-chown.
   */
  allowSetuid?: boolean;
  /** `[runtime] home = "env"`: this host directory is bound at the user's home instead of the home itself. */
  envHome?: string;
  /** Serve karapace-host-exec (policy hostIntegration.hostExec): the socket on the host, the client binary. */
  hostExec?: { socket: string; client: string };
}

export interface LauncherArgv {
  argv: string[];
  /** The manifest's mounts after the security policy (already checked: a refusal throws). */
  mounts: ResolvedMount[];
  uid: number;
  gid: number;
}

function under(path: string, dir: string): string | undefined {
  const rel = relative(dir, path);
  if (rel === '') return '';
  return rel.startsWith('..') || isAbsolute(rel) ? undefined : rel;
}

/** Working directory inside: asked for, else the caller's when visible inside, else home, else /. */
function sandboxCwd(request: Pick<SpawnRequest, 'purpose' | 'user' | 'cwd'>, ctx: LauncherContext, binds: { source: string; target: string }[]): string {
  if (request.cwd) return request.cwd;
  if (request.purpose === 'install') return '/';
  return visibleCwd(ctx.hostCwd, binds) ?? (request.user === 'root' ? '/root' : binds.some((b) => b.target === ctx.user.home) ? ctx.user.home : '/');
}

function visibleCwd(hostCwd: string | undefined, binds: { source: string; target: string }[]): string | undefined {
  if (!hostCwd) return undefined;
  // Longest source first: the most specific bind decides.
  for (const b of [...binds].sort((x, y) => y.source.length - x.source.length)) {
    const rel = under(hostCwd, b.source);
    if (rel !== undefined) return rel ? `${b.target.replace(/\/$/, '')}${sep}${rel}` : b.target;
  }
  return undefined;
}

/** Environment edits in a stable order: the request's, then the generated files' (TZ) unless set. */
function environmentArgs(request: Pick<SpawnRequest, 'environment'>, ctx: LauncherContext): string[] {
  const vars = { ...(ctx.etc?.environment ?? {}), ...request.environment };
  const a: string[] = [];
  for (const [k, v] of Object.entries(vars).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) a.push('--setenv', k, v);
  return a;
}

/** Process options shared by a new sandbox and a join: ids' side effects on privileges. */
function privilegeArgs(request: Pick<SpawnRequest, 'purpose' | 'user'>, ctx: LauncherContext): string[] {
  // Single-id mapping: dpkg & co. chown to ids that don't exist here; make that a no-op.
  if (request.user === 'root' && ctx.mapMode === 'single') return ['--fake-chown'];
  if (request.purpose !== 'install' && ctx.allowSetuid && ctx.mapMode !== 'single') return ['--allow-setuid'];
  return [];
}

export function buildLauncherArgv(env: EnvHandle, request: Pick<SpawnRequest, 'purpose' | 'user' | 'argv' | 'environment' | 'cwd' | 'network' | 'readOnly'> & { tty?: boolean }, ctx: LauncherContext): LauncherArgv {
  const a: string[] = [];
  const asRoot = request.user === 'root';
  // exec/enter (as the user or with --root) get the session; installs get a bare root.
  const install = request.purpose === 'install';
  // Policy first: a refused mount throws before any namespace exists.
  const mounts = resolveMounts(env.manifest.mounts, env.manifestDir, ctx.policy, ctx.user);

  // Root filesystem: overlay of the env's lowers (topmost first) under its upper dir.
  for (const lower of env.lowerDirs) a.push('--lower', lower);
  a.push('--upper', env.paths.upper, '--work', env.paths.work);
  if (ctx.overlay.kind === 'fuse') a.push('--fuse-overlayfs', ctx.overlay.binary);

  // Ids: installs as container root, exec/enter as the invoking user (same uid/gid).
  const uid = asRoot ? 0 : ctx.user.uid;
  const gid = asRoot ? 0 : ctx.user.gid;
  a.push('--map-mode', ctx.mapMode, '--uid', String(uid), '--gid', String(gid));
  a.push(...privilegeArgs(request, ctx));
  // Frozen: the root is read-only (mount points are made first; binds stay as they are).
  if (request.readOnly) a.push('--ro-root');

  if (!request.network) a.push('--unshare-net');
  a.push('--hostname', sandboxHostname(env));
  // exec/enter: the sandbox stays while commands that joined it run (a later exec joins).
  if (!install) a.push('--wait-joined');

  a.push('--clearenv', ...environmentArgs(request, ctx));

  if (request.network && ctx.resolvConf && existsSync(ctx.resolvConf)) a.push('--file-from', ctx.resolvConf, '/etc/resolv.conf');
  for (const f of ctx.etc?.files ?? []) a.push('--file-from', f.source, f.target);

  const binds: { source: string; target: string }[] = [];
  if (!install) {
    if (ctx.identity) a.push('--file-from', ctx.identity.passwd, '/etc/passwd', '--file-from', ctx.identity.group, '/etc/group');
    // The user's home at the same path, like Toolbx (or the env's own there: the host's hidden).
    const home = homeBind(ctx);
    if (home) {
      a.push('--bind', home.source, home.target);
      binds.push(home);
    }
  }
  for (const m of mounts) {
    a.push(m.readOnly ? '--ro-bind' : '--bind', m.source, m.target);
    binds.push(m);
  }
  for (const dev of requestedDevices(env.manifest)) a.push('--dev-bind', dev, dev);
  for (const s of ctx.sockets ?? []) a.push('--bind', s.source, s.target);
  if (ctx.hostExec && !install) {
    a.push('--host-exec', ctx.hostExec.socket, '--bind', ctx.hostExec.socket, HOST_EXEC_SOCKET);
    a.push('--ro-bind', ctx.hostExec.client, HOST_EXEC_CLIENT);
  }

  a.push('--chdir', sandboxCwd(request, ctx, binds));
  // enter: a terminal of the sandbox's own (`tty` names /dev/pts/N), relayed to the caller's.
  if (request.tty) a.push('--pty');
  a.push('--', ...request.argv);
  return { argv: a, mounts, uid, gid };
}

/**
 * A second exec/enter while the environment runs joins the running sandbox (like
 * `podman exec`): two overlay mounts of one upper dir at once are undefined behaviour
 * (overlayfs warns "upperdir is in-use"). `pid1` is the sandbox's pid 1 on the host; the
 * launcher's `--join` enters its namespaces and root (native/PROTOCOL.md "Joining").
 * The mounts are the sandbox's own; the policy is still checked so a refused mount fails
 * the same way whether the env runs or not.
 */
export function buildJoinArgv(pid1: number, env: EnvHandle, request: Pick<SpawnRequest, 'purpose' | 'user' | 'argv' | 'cwd' | 'environment'> & { tty?: boolean }, ctx: LauncherContext): string[] {
  const mounts = resolveMounts(env.manifest.mounts, env.manifestDir, ctx.policy, ctx.user);
  const homeDir = homeBind(ctx);
  const home = homeDir ? [homeDir] : [];
  const asRoot = request.user === 'root';
  const a = ['--join', String(pid1), '--uid', String(asRoot ? 0 : ctx.user.uid), '--gid', String(asRoot ? 0 : ctx.user.gid)];
  a.push(...privilegeArgs(request, ctx), '--clearenv', ...environmentArgs(request, ctx));
  a.push('--chdir', sandboxCwd(request, ctx, [...home, ...mounts]));
  if (request.tty) a.push('--pty');
  a.push('--', ...request.argv);
  return a;
}

export interface HostBind {
  source: string;
  target: string;
  readOnly?: boolean;
}

/**
 * Work on files under subordinate ids (reclaim before destroy, the `mapped` hook's store
 * work, owned copies of base images): the host's own root read-only, a fresh tmpfs on /tmp
 * (a host path may cross directories that root inside, a subordinate id, cannot traverse, so
 * what the work needs is bound there), the full id mapping as container root, like
 * `podman unshare`, with nothing of the caller's environment but PATH.
 */
export function buildHostMappingArgv(binds: readonly HostBind[], command: readonly string[]): string[] {
  return [
    '--ro-rootfs', '/', '--tmpfs', '/tmp',
    ...binds.flatMap((b) => [b.readOnly ? '--ro-bind' : '--bind', b.source, b.target]),
    '--map-mode', 'full', '--uid', '0', '--gid', '0',
    '--clearenv', '--setenv', 'PATH', '/usr/local/bin:/usr/bin:/bin',
    '--', ...command,
  ];
}

/** What is bound at the user's home: the home itself, or the env's own home (`[runtime] home = "env"`). */
function homeBind(ctx: LauncherContext): { source: string; target: string } | undefined {
  if (!ctx.user.home || ctx.user.home === '/') return undefined;
  const source = ctx.envHome ?? ctx.user.home;
  return existsSync(source) ? { source, target: ctx.user.home } : undefined;
}

/** The env's hostname inside (also what the generated /etc/hosts names). */
export function sandboxHostname(env: Pick<EnvHandle, 'name' | 'shortId'>): string {
  return env.name ?? `karapace-${env.shortId}`;
}
