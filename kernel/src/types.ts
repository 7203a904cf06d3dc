/**
 * The data types that cross the kernel/plugin boundary. Third-party plugins are written
 * against these (and Kernel's hooks) alone.
 */
import type { NormalizedManifest } from './manifest/types.js';
import type { LockFile } from './lock/types.js';
import type { ResolvedMount } from './security/mounts.js';

export type { NormalizedManifest, LockFile };

/** Package managers the kernel knows by name; plugins may add others. */
export type PackageManagerName = 'apt' | 'dnf' | 'zypper' | 'pacman' | 'apk' | 'mock' | (string & {});

/** Asks the `resolve` hook for a base image. */
export interface ResolveRequest {
  /** The manifest's `[base] image`, as written (trimmed). */
  image: string;
  /** A digest the base must have (from the lock under `--locked`, or a pinned reference). */
  expectedDigest?: string;
  /** Forbid downloads (`--offline`). */
  offline: boolean;
  /** Directory for the image cache (`<root>/images`). Resolvers own the keys below it. */
  imagesDir: string;
  /** Directory for temporary work (`<root>/store/staging`), on the same filesystem. */
  stagingDir: string;
  /** Directory of the manifest, for relative paths. */
  manifestDir: string;
  /**
   * `build --require-pinned-image`: refuse (before fetching anything) a reference that does
   * not name exactly one image in a form this resolver verifies. The kernel also refuses a
   * result whose `pinned` is not true, so a resolver that ignores this flag cannot pass.
   */
  requirePinned?: boolean;
  /**
   * The caller (a build) waits for `ResolvedBase.verifying` before anything uses the rootfs
   * or commits, and resolves again without this when it is false: a resolver may return a
   * cached image while its re-verification still runs.
   */
  deferVerification?: boolean;
}

/** Asks the `pinned` hook whether a base reference, as written, is pinned. */
export interface PinnedRequest {
  /** The manifest's `[base] image`, as written. */
  image: string;
  /** Directory of the manifest, for relative paths. */
  manifestDir: string;
}

/** What a resolver returns: an extracted rootfs in the image cache. */
export interface ResolvedBase {
  /** The reference as the user wrote it. */
  reference: string;
  /** Where it was fetched from (URL, path, registry digest reference). */
  source: string;
  /** blake3 of the canonical tree walk of the rootfs. */
  digest: string;
  /** Absolute path of the extracted root filesystem (read-only lower layer). */
  rootfs: string;
  /** Package manager detected in the rootfs. */
  packageManager: PackageManagerName;
  /** Name of the resolver plugin that answered. */
  resolver: string;
  /**
   * True only when the reference itself names a digest and the resolver verified the
   * content against it (the one definition of "pinned": the resolver that verifies it).
   */
  pinned?: boolean;
  /**
   * Only when the request allowed it (`deferVerification`): the cached image's
   * re-verification, still running; true when the image is as recorded, false when it is
   * not (or could not be checked this way).
   */
  verifying?: Promise<boolean>;
}

/** A package with the exact version installed. */
export interface ResolvedPackage {
  name: string;
  version: string;
}

/** On-disk locations of one environment. */
export interface EnvPaths {
  /** `<root>/env/<env_id>` (or a staging directory while building). */
  dir: string;
  /** Overlay upper directory: every write inside the environment lands here. */
  upper: string;
  /** Overlay work directory (same filesystem as upper). */
  work: string;
  /** Runtime files: pid records, mount points, bundles. */
  runtime: string;
}

/** Everything a backend needs to know about an environment. */
export interface EnvHandle {
  envId: string;
  shortId: string;
  name?: string;
  paths: EnvPaths;
  /** Read-only lower directories, topmost first (the base rootfs last). */
  lowerDirs: string[];
  manifest: NormalizedManifest;
  lock: LockFile;
  backend: string;
  /** Directory the manifest lives in: relative mount paths resolve against it. */
  manifestDir: string;
}

export type SpawnPurpose = 'install' | 'exec' | 'enter';

/** Asks the `mount` hook to prepare an environment's root. */
export interface MountRequest {
  backend: string;
  env: EnvHandle;
  purpose: SpawnPurpose;
}

/** A prepared root, handed back to `spawn`. Backends put their own data in `data`. */
export interface MountPlan {
  backend: string;
  /** Path of the merged root on the host, when the backend materialises one. */
  root?: string;
  data?: unknown;
  /** Undo whatever mount did (called after spawn returns). */
  release?(): Promise<void>;
}

/** Asks the `spawn` hook to run a process inside an environment. */
export interface SpawnRequest {
  backend: string;
  env: EnvHandle;
  mount: MountPlan;
  purpose: SpawnPurpose;
  argv: string[];
  /** `root` = uid 0 inside (package installs, `exec --root`); `invoker` = the calling user's uid/gid/name/home. */
  user: 'root' | 'invoker';
  /** `inherit` streams the CLI's stdio; `capture` collects stdout/stderr. */
  stdio: 'inherit' | 'capture';
  /** With `capture`: sees the output as it arrives too (progress), besides the collected result. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
  /** Allocate/keep a terminal (enter). */
  tty: boolean;
  /** Environment variables after the security policy's allow/deny lists. */
  environment: Record<string, string>;
  cwd?: string;
  /** Whether the process may reach the network (false for isolated envs and --offline). */
  network: boolean;
  /**
   * The manifest's `[mounts]`, resolved and checked against the security policy (absolute
   * host source, container target, read-only flag); none for package installs.
   */
  mounts?: ResolvedMount[];
  /**
   * The environment is frozen: the process must not be able to change its upper dir.
   * Backends mount it read-only; the mock backend cannot enforce this (documented).
   */
  readOnly?: boolean;
}

export interface SpawnResult {
  /** The command's exit status; 128+n when killed by signal n. */
  exitCode: number;
  stdout?: string;
  stderr?: string;
}

export type RunState = 'running' | 'stopped';

/** Asks a package-manager adapter (the `install` hook) to install into an environment. */
export interface InstallRequest {
  packageManager: PackageManagerName;
  env: EnvHandle;
  packages: string[];
  /** Exact versions to install (under `--locked`), by package name. */
  pinned?: Record<string, string>;
  offline: boolean;
  /** Runs a command in the environment as container root, through the env's backend. */
  run(argv: string[], options?: { capture?: boolean; environment?: Record<string, string>; onOutput?: SpawnRequest['onOutput'] }): Promise<SpawnResult>;
}

export interface InstallResult {
  /** Exact versions of the requested packages as installed. */
  packages: ResolvedPackage[];
}

export interface LockContext {
  manifest: NormalizedManifest;
  base: ResolvedBase;
  env: EnvHandle;
}

export interface PackRequest {
  /** Directory to pack (an overlay upper dir or a rootfs). */
  dir: string;
  kind: LayerKind;
  parent?: string;
  /** Recorded in the layer record (commit -m). */
  message?: string;
  /** The environment whose upper dir `dir` is (commit): the packer reads it inside the env's id mapping (`mapped` hook). */
  env?: EnvHandle;
}

export type LayerKind = 'base' | 'dependency' | 'policy' | 'snapshot';

/** A layer manifest (`store/layers/<hash>.json`). */
export interface LayerRecord {
  hash: string;
  kind: LayerKind;
  parent?: string;
  /**
   * blake3 of the layer tar: the layer's exchange identity. The tar is an object of its own
   * only when the layer has no tree (a pulled layer, a store not migrated); otherwise
   * `tree` gives it back byte for byte, and a tar object, when present, is a cache.
   */
  object: string;
  /** The tree object (store/tree.ts) the tar is produced from. */
  tree?: string;
  /** Bytes of the layer tar. */
  size: number;
  entries: number;
  created_at: string;
  message?: string;
  /** On the record a pack returns, not stored: the objects and bytes this pack added to the store. */
  added?: { objects: number; bytes: number; /** Files whose content hash came from the stat-fingerprint cache. */ cached?: number };
}

/** What the `built` hook gets: the environment, its manifest, and the host it was built on. */
export interface BuiltContext {
  env: EnvHandle;
  manifest: NormalizedManifest;
  host: {
    /** The caller's environment (HOME, XDG directories), as the engine was created with. */
    env: NodeJS.ProcessEnv;
    /** argv that runs karapace on this host. */
    launcher: string[];
  };
  /**
   * What the taps did outside the environment, by plugin name (app-export: the apps it put
   * on the host); returned in the build's result as `extensions`.
   */
  results: Record<string, unknown>;
}

export interface CommitContext {
  env: EnvHandle;
}

/** Something GC may delete; a `keep` tap returning true vetoes it. */
export interface GcCandidate {
  kind: 'object' | 'layer' | 'env' | 'image' | (string & {});
  id: string;
  path: string;
}

export interface GcContext {
  dryRun: boolean;
  /** Roots plugins add (object/layer hashes, image keys) that must survive. */
  roots: Set<string>;
  /** Plugins append what they removed (or would remove, in a dry run). */
  removed: GcCandidate[];
  imagesDir: string;
  /** True once SIGINT/SIGTERM arrived: stop at the next safe point. */
  interrupted(): boolean;
}

export type ProgressEvent =
  | { kind: 'start'; task: string; label: string; total?: number; /** What `done`/`total` count (default items). */ unit?: 'bytes' | 'items' }
  | { kind: 'advance'; task: string; done: number; total?: number; /** The step the task is in now (a bootstrap's stage, an install's phase). */ stage?: string }
  | { kind: 'end'; task: string; ok: boolean; message?: string }
  | { kind: 'log'; level: 'debug' | 'info' | 'warn'; message: string };

export type DoctorStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  id: string;
  title: string;
  status: DoctorStatus;
  detail?: string;
  /** How to fix it, when not ok. */
  fix?: string;
  /** A failed required check makes doctor exit non-zero. */
  required: boolean;
  plugin?: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
}
