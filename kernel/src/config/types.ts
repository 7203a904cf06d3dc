/** The configuration file's shape (`.karapacerc.json`, `karapace.config.mjs`, `package.json#karapace`, …). */

/** A plugin reference: a module name or path, optionally with options. */
export type PluginSpec = string | [string, Record<string, unknown>?];

export interface RemoteConfig {
  url: string;
  /** Token value (prefer `tokenEnv`: config files get committed). */
  token?: string;
  /** Name of the environment variable holding the token. */
  tokenEnv?: string;
  /** How long a request may wait on this remote (docs/configuration.md); unset fields keep their defaults. */
  timeouts?: RemoteTimeoutConfig;
}

/** Client-side limits on a remote that stops answering. */
export interface RemoteTimeoutConfig {
  /** Opening the connection (default 10000). */
  connectMs?: number;
  /** From the request sent to the answer's headers (default 30000). */
  firstByteMs?: number;
  /** While a body moves: a window this long in which fewer than `minBytesPerSecond` moved on average (default 30000). */
  idleMs?: number;
  /** The slowest transfer that still counts as moving (default 1024). */
  minBytesPerSecond?: number;
}

export interface SecurityPolicy {
  /** Host paths that may be mounted (after resolving `..` and symlinks). Relative paths are always allowed. */
  allowedMountPrefixes: string[];
  /** Environment variables passed into environments. */
  envAllow: string[];
  /** Never passed, even when allowed (secrets). */
  envDeny: string[];
  maxMemoryMb: number;
  maxCpuShares: number;
  /** What of the host session reaches exec/enter (kernel/src/security/integration.ts). */
  hostIntegration: HostIntegration;
}

/**
 * Host integration for exec/enter, each a separate policy choice (installs get none). A
 * socket is bound only when the host has it; its variable passes only with it.
 */
export interface HostIntegration {
  /** The ssh-agent socket and SSH_AUTH_SOCK: the env can ask the agent to sign, never read a key. */
  sshAgent: boolean;
  /** http_proxy, https_proxy, no_proxy, all_proxy (either case): they may carry proxy credentials. */
  proxy: boolean;
  /** The session D-Bus socket and DBUS_SESSION_BUS_ADDRESS (notifications, secrets, portals). */
  dbus: boolean;
  /** X11 (/tmp/.X11-unix, XAUTHORITY) and Wayland sockets, without needing [gui] apps. */
  display: boolean;
  /** PipeWire and PulseAudio sockets, without needing [hardware] audio. */
  audio: boolean;
  /**
   * `karapace-host-exec COMMAND` inside runs COMMAND on the host, as you, outside every
   * namespace: no isolation is left for an env that has it. Off by default.
   */
  hostExec: boolean;
}

export interface KarapaceConfig {
  /** Presets merged before this file: npm package names or paths. */
  extends?: string | string[];
  /** Plugins to load after the built-ins. */
  plugins?: PluginSpec[];
  /** Load the built-in plugins (default true). */
  builtins?: boolean;
  store?: string;
  /** Backend used when a manifest doesn't name one. */
  defaultBackend?: string;
  remotes?: Record<string, RemoteConfig>;
  defaultRemote?: string;
  images?: {
    /** Image server for aliases (simplestreams / LXC layout). */
    server?: string;
    /** Extra aliases: name → reference. */
    aliases?: Record<string, string>;
  };
  security?: Partial<Omit<SecurityPolicy, 'hostIntegration'>> & { hostIntegration?: Partial<HostIntegration> };
  /** Templates for `karapace new`, name → manifest text. */
  templates?: Record<string, string>;
  /** Free-form sections for plugins, keyed by plugin name. */
  [section: string]: unknown;
}

/** Where each piece of the effective config came from. */
export interface LoadedConfig {
  config: KarapaceConfig;
  /** Files and presets in the order they were merged (lowest priority first). */
  sources: string[];
  /** Directory relative plugin paths in each file resolve against, by plugin spec index. */
  pluginBaseDirs: string[];
  /** Dotted key path → the file that set it (plugins as `plugins.<module>`). */
  origins: Record<string, string>;
}

export const DEFAULT_SECURITY: SecurityPolicy = Object.freeze({
  allowedMountPrefixes: ['/home', '/tmp'],
  envAllow: [
    'TERM', 'COLORTERM', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES', 'TZ',
    'DISPLAY', 'WAYLAND_DISPLAY', 'XDG_RUNTIME_DIR', 'XDG_SESSION_TYPE', 'PULSE_SERVER',
    'EDITOR', 'VISUAL', 'PAGER', 'NO_COLOR', 'FORCE_COLOR',
  ],
  // SSH_AUTH_SOCK is not here: hostIntegration.sshAgent decides it (and binds the socket the
  // variable names, without which the variable is useless inside).
  envDeny: [
    'GPG_AGENT_INFO', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID',
    'DOCKER_HOST', 'GITHUB_TOKEN', 'GH_TOKEN', 'NPM_TOKEN', 'KARAPACE_REMOTE_TOKEN',
  ],
  maxMemoryMb: 65536,
  maxCpuShares: 262144,
  hostIntegration: Object.freeze({ sshAgent: true, proxy: true, dbus: true, display: true, audio: true, hostExec: false }),
}) as SecurityPolicy;
