/**
 * The kernel: a fixed, typed set of lifecycle hooks (tapable) that plugins tap. The kernel's
 * own behaviour (the default layer packer, store roots for gc) is written as plugins too.
 */
import tapable from 'tapable';
import type {
  BuiltContext,
  CommitContext,
  DoctorReport,
  EnvHandle,
  GcCandidate,
  GcContext,
  InstallRequest,
  InstallResult,
  LayerRecord,
  LockContext,
  LockFile,
  MountPlan,
  MountRequest,
  PackRequest,
  PinnedRequest,
  ProgressEvent,
  ResolvedBase,
  ResolveRequest,
  RunState,
  SpawnRequest,
  SpawnResult,
} from './types.js';
import type { KarapaceConfig } from './config/types.js';
import type { MappedRequest, MappedResult } from './mapped/types.js';
import type { Logger } from './logger.js';
import { PluginError, KarapaceError, asKarapaceError } from './errors.js';
import { KERNEL_API, type KernelApi } from './api.js';
import type { BackendCapabilities } from './capabilities.js';
import { storeLayout, type StoreLayout } from './store/layout.js';
import { markRunning, markedRunning, startRunningIndex, unmarkIfStopped } from './store/running-index.js';

const { AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook, SyncBailHook, SyncHook } = tapable;

/** Asks the `remote` hook for a client by URL. */
export interface RemoteRequest {
  url: string;
  token?: string;
}

/** What a remote plugin provides. Defined loosely here; remote plugins refine it. */
export interface RemoteClient {
  readonly url: string;
  [key: string]: unknown;
}

/** The hooks, in lifecycle order. Argument names are part of the documentation. */
export function createHooks() {
  return Object.freeze({
    /** Base reference → rootfs in the image cache. First resolver to return a value wins. */
    resolve: new AsyncSeriesBailHook<[ResolveRequest], ResolvedBase | undefined>(['request']),
    /** Install packages with the rootfs's package manager; the adapter for it answers. */
    install: new AsyncSeriesBailHook<[InstallRequest], InstallResult | undefined>(['request']),
    /**
     * Is this base reference, as written, pinned (names exactly one image, in a form the
     * answering resolver verifies)? The resolver that understands it answers true; nobody
     * answering means not pinned. Asked by `pin`, without fetching anything.
     */
    pinned: new SyncBailHook<[PinnedRequest], boolean | undefined>(['request']),
    /** Refine the lock (pinned versions, extra data) step by step. */
    lock: new AsyncSeriesWaterfallHook<[LockFile, LockContext]>(['lock', 'context']),
    /** Directory → deterministic layer. The kernel's packer taps last (stage 100). */
    pack: new AsyncSeriesBailHook<[PackRequest], LayerRecord | undefined>(['request']),
    /** Prepare an environment's root; the backend named in the request answers. */
    mount: new AsyncSeriesBailHook<[MountRequest], MountPlan | undefined>(['request']),
    /** Run a process inside an environment; the backend named in the request answers. */
    spawn: new AsyncSeriesBailHook<[SpawnRequest], SpawnResult | undefined>(['request']),
    /** Stop a running environment (SIGTERM, then SIGKILL). Answers true when handled. */
    stop: new AsyncSeriesBailHook<[EnvHandle, number], boolean | undefined>(['env', 'timeoutMs']),
    /** Is an environment running? The backend that ran it answers. */
    status: new AsyncSeriesBailHook<[EnvHandle], RunState | undefined>(['env']),
    /**
     * Store work on an environment's files inside its id mapping: pack (commit), unpack
     * (restore, diff), remove, scan (diff). The backend that runs the env answers when the
     * host cannot do it as the user — full subordinate-id mapping (files under subordinate
     * ids, unreadable or undeletable by the user, host ids ≠ the env's ids). Nobody
     * answering means the kernel does it in-process. See ./mapped/types.ts.
     */
    mapped: new AsyncSeriesBailHook<[MappedRequest], MappedResult | undefined>(['request']),
    /** Upper dir → snapshot layer; taps may observe or extend the record. */
    commit: new AsyncSeriesWaterfallHook<[LayerRecord, CommitContext]>(['layer', 'context']),
    /**
     * An environment was built (or rebuilt, or put back after a failed rebuild), under the
     * store lock: plugins put on the host what goes with it (app-export: its [gui] apps).
     * A tap that fails is reported as a warning: the environment is built.
     */
    built: new AsyncSeriesHook<[BuiltContext]>(['context']),
    /** An environment is about to be destroyed: plugins remove what they put on the host. */
    destroy: new AsyncSeriesHook<[EnvHandle]>(['env']),
    /** Garbage collection: plugins add roots and collect what they own. */
    gc: new AsyncSeriesHook<[GcContext]>(['context']),
    /** Veto: return true to keep a gc candidate. */
    keep: new SyncBailHook<[GcCandidate], boolean | undefined>(['candidate']),
    /** URL → remote client, by scheme or host. */
    remote: new AsyncSeriesBailHook<[RemoteRequest], RemoteClient | undefined>(['request']),
    /** Progress and log events for the reporter (text, bars or JSON). */
    progress: new SyncHook<[ProgressEvent]>(['event']),
    /** Plugins contribute prerequisite checks. */
    doctor: new AsyncSeriesHook<[DoctorReport]>(['report']),
  });
}

export type KernelHooks = ReturnType<typeof createHooks>;
export type HookName = keyof KernelHooks;

/** A runtime backend, registered in one call; it taps mount/spawn/stop/status by name. */
export interface Backend {
  name: string;
  /**
   * What it enforces (api.capabilities lists the keys). A manifest asking for a capability
   * not declared true is refused at build. Undeclared means lacking.
   */
  capabilities?: BackendCapabilities;
  mount(request: MountRequest): Promise<MountPlan>;
  spawn(request: SpawnRequest): Promise<SpawnResult>;
  stop?(env: EnvHandle, timeoutMs: number): Promise<boolean>;
  status?(env: EnvHandle): Promise<RunState>;
  /**
   * The status of many of its environments in one pass (`list`), answering as `status` does
   * for each; the kernel asks it through `runStates` when no other plugin taps `status`.
   */
  statusAll?(envs: readonly EnvHandle[]): Promise<RunState[]>;
  /**
   * True when the backend calls `kernel.markRunning(env)` for every environment it starts,
   * after writing what makes its `status` answer "running": `runStates` then asks `statusAll`
   * only about marked environments (store/running-index.ts), so `list` does not open every one.
   */
  marksRunning?: boolean;
  /**
   * How this backend maps owners when it installs packages (e.g. namespace: "full" or
   * "single" id mapping): files written under one mapping are not reused under another,
   * so a packages layer records it and is found only by a build with the same.
   */
  ownerMapping?(): Promise<string>;
}

export interface KernelOptions {
  config: KarapaceConfig;
  storeRoot: string;
  logger: Logger;
}

export class Kernel {
  readonly hooks: KernelHooks = createHooks();
  /** The runtime API plugins use instead of importing @karapace/kernel (see api.ts). */
  readonly api: KernelApi = KERNEL_API;
  readonly config: KarapaceConfig;
  readonly storeRoot: string;
  readonly logger: Logger;
  /** Names of the plugins applied, in order. */
  readonly plugins: string[] = [];
  /** Registered backends: name → the plugin that registered it, and what it declares. */
  private readonly backendsByName = new Map<string, { plugin: string; capabilities: BackendCapabilities }>();
  private readonly ownerMappingByName = new Map<string, () => Promise<string>>();
  /** Registered backends' batch status, and the status taps registerBackend made. */
  private readonly statusAllByName = new Map<string, (envs: readonly EnvHandle[]) => Promise<RunState[]>>();
  private readonly backendStatusTaps = new Set<string>();
  /** Registered backends that mark what they start in the running index. */
  private readonly marksRunningByName = new Set<string>();
  /** The plugin currently being applied: taps registered now are attributed to it. */
  private applying?: string;

  constructor(options: KernelOptions) {
    this.config = options.config;
    this.storeRoot = options.storeRoot;
    this.logger = options.logger;
    for (const [hookName, hook] of Object.entries(this.hooks)) {
      attributeErrors(hookName, hook as unknown as InterceptableHook, () => this.applying);
    }
  }

  /** Runs `fn` with taps attributed to `pluginName` (used by the plugin loader). */
  async applyAs(pluginName: string, fn: () => void | Promise<void>): Promise<void> {
    const previous = this.applying;
    this.applying = pluginName;
    try {
      await fn();
      this.plugins.push(pluginName);
    } finally {
      this.applying = previous;
    }
  }

  /** Registers a runtime backend: taps mount/spawn/stop/status for requests naming it. */
  registerBackend(backend: Backend, tapName: string = `backend:${backend.name}`): void {
    const name = backend.name.toLowerCase();
    const plugin = this.applying ?? tapName;
    const earlier = this.backendsByName.get(name);
    if (earlier) {
      throw new PluginError('KP_BACKEND_DUPLICATE', `plugins "${earlier.plugin}" and "${plugin}" both register the backend "${name}"`, {
        hint: `remove one of them from your config (or from the preset that brings it), or turn the built-ins off with "builtins": false`,
        data: { backend: name, plugins: [earlier.plugin, plugin] },
      });
    }
    this.backendsByName.set(name, { plugin, capabilities: Object.freeze({ ...backend.capabilities }) });
    if (backend.ownerMapping) this.ownerMappingByName.set(name, backend.ownerMapping.bind(backend));
    this.hooks.mount.tapPromise(tapName, async (req) => (req.backend === name ? backend.mount(req) : undefined));
    this.hooks.spawn.tapPromise(tapName, async (req) => (req.backend === name ? backend.spawn(req) : undefined));
    if (backend.stop) {
      const stop = backend.stop.bind(backend);
      this.hooks.stop.tapPromise(tapName, async (env, timeout) => (env.backend === name ? stop(env, timeout) : undefined));
    }
    if (backend.status) {
      const status = backend.status.bind(backend);
      this.hooks.status.tapPromise(tapName, async (env) => (env.backend === name ? status(env) : undefined));
      this.backendStatusTaps.add(tapName);
      if (backend.statusAll) this.statusAllByName.set(name, backend.statusAll.bind(backend));
      if (backend.statusAll && backend.marksRunning) this.marksRunningByName.add(name);
    }
  }

  private get layout(): StoreLayout {
    return storeLayout(this.storeRoot);
  }

  /**
   * Marks `env` as maybe running in the store's running index: what a backend declaring
   * `marksRunning` calls after writing the record that makes its status "running".
   */
  markRunning(env: EnvHandle): void {
    try {
      markRunning(this.layout, env.envId);
    } catch (err) {
      // The run goes on; only `list` may miss it.
      this.logger.warn(`could not mark ${env.shortId} as running for \`karapace list\`: ${(err as Error).message}`);
    }
  }

  /**
   * The run state of many environments, as the status hook answers for each (undefined where
   * no plugin answers): one `statusAll` call per backend that has one while every status tap
   * is a registered backend's (each answers for its own backend only); the hook per env
   * otherwise, or when a batch fails (the hook attributes the error to its plugin). A backend
   * that marks what it starts is asked only about marked environments; `envs` are all the
   * store's built environments (`list`), so a first look without an index covers everything.
   */
  async runStates(envs: readonly EnvHandle[]): Promise<(RunState | undefined)[]> {
    return this.runStatesOf(envs, (i) => envs[i]!);
  }

  /**
   * runStates for environments known by id and backend, whose handles are made only for
   * those a backend is asked about (`list`: the marked ones).
   */
  async runStatesOf(ids: readonly { envId: string; backend: string }[], handle: (index: number) => EnvHandle): Promise<(RunState | undefined)[]> {
    const handles = new Map<number, EnvHandle>();
    const envs = { at: (i: number) => handles.get(i) ?? handles.set(i, handle(i)).get(i)! };
    const states: (RunState | undefined)[] = new Array(ids.length);
    const byBackend = new Map<string, number[]>();
    ids.forEach((env, i) => {
      const list = byBackend.get(env.backend);
      if (list) list.push(i);
      else byBackend.set(env.backend, [i]);
    });
    const onlyBackends = this.tapNames('status').every((t) => this.backendStatusTaps.has(t));
    const layout = this.layout;
    let marked: Set<string> | undefined | null = null;
    const markedNow = () => {
      if (marked !== null) return marked;
      marked = markedRunning(layout);
      // No index yet: it starts now, with this full look (store/running-index.ts).
      if (!marked) startRunningIndex(layout);
      return marked;
    };
    // The first full look marks what runs now (started before the index).
    const markFound = (indexes: number[]) => {
      for (const i of indexes) if (states[i] === 'running') markRunning(layout, ids[i]!.envId);
    };
    await Promise.all([...byBackend].map(async ([backend, all]) => {
      const name = backend.toLowerCase();
      const batch = onlyBackends ? this.statusAllByName.get(name) : undefined;
      const marks = batch !== undefined && this.marksRunningByName.has(name);
      const index = marks ? markedNow() : undefined;
      // Unmarked environments of a backend that marks what it starts are stopped.
      const indexes = index ? all.filter((i) => index.has(ids[i]!.envId)) : all;
      if (index) for (const i of all) if (!index.has(ids[i]!.envId)) states[i] = 'stopped';
      if (batch) {
        try {
          const answers = indexes.length ? await batch(indexes.map((i) => envs.at(i))) : [];
          if (answers.length === indexes.length) {
            indexes.forEach((i, k) => (states[i] = answers[k]));
            if (marks && !index) markFound(indexes);
            // A mark whose environment stopped goes (asked again after, in case it just started).
            if (index) {
              await Promise.all(indexes.filter((i) => states[i] === 'stopped').map(async (i) => {
                const env = envs.at(i);
                if (await unmarkIfStopped(layout, env.envId, async () => (await batch([env]))[0] === 'running')) states[i] = 'running';
              }));
            }
            return;
          }
        } catch {
          // asked one by one below: the hook names the plugin that failed
        }
      }
      await Promise.all(indexes.map(async (i) => (states[i] = await this.hooks.status.promise(envs.at(i)))));
      if (marks && !index) markFound(indexes);
    }));
    return states;
  }

  /**
   * True when `runStates` trusts the running index for this backend: it marks what it starts
   * (`Backend.marksRunning`, with `statusAll`) and only backends answer `status`.
   */
  marksRunning(backend: string): boolean {
    return this.marksRunningByName.has(backend.toLowerCase()) && this.tapNames('status').every((t) => this.backendStatusTaps.has(t));
  }

  /** Backends registered through registerBackend (plugins tapping hooks directly are not listed). */
  get backends(): string[] {
    return [...this.backendsByName.keys()].sort();
  }

  /** How a registered backend maps owners on disk ('' when it does not say): see Backend.ownerMapping. */
  async backendOwnerMapping(name: string): Promise<string> {
    return (await this.ownerMappingByName.get(name.toLowerCase())?.()) ?? '';
  }

  /** A registered backend's declared capabilities and plugin, or undefined (a plugin tapping hooks directly). */
  backendInfo(name: string): { plugin: string; capabilities: BackendCapabilities } | undefined {
    return this.backendsByName.get(name.toLowerCase());
  }

  /** Names of the taps on a hook, for "nobody answered" errors. */
  tapNames(hook: HookName): string[] {
    return (this.hooks[hook] as unknown as InterceptableHook).taps.map((t) => t.name);
  }

  progress(event: ProgressEvent): void {
    this.hooks.progress.call(event);
  }
}

interface TapInfo {
  name: string;
  type: 'sync' | 'async' | 'promise';
  fn: (...args: unknown[]) => unknown;
}
interface InterceptableHook {
  taps: TapInfo[];
  intercept(interceptor: { register?: (tap: TapInfo) => TapInfo }): void;
}

/**
 * Wraps every tap so an exception names the hook and the plugin that threw, the way
 * webpack reports which plugin failed in which step.
 */
function attributeErrors(hookName: string, hook: InterceptableHook, currentPlugin: () => string | undefined): void {
  hook.intercept({
    register(tap) {
      const plugin = currentPlugin() ?? tap.name;
      const wrap = (err: unknown): KarapaceError => {
        if (err instanceof KarapaceError) {
          // The plugin's own typed error keeps its code and message, and says where it came from.
          if (err.data?.plugin === undefined) (err as { data?: Record<string, unknown> }).data = { ...err.data, plugin, hook: hookName };
          return err;
        }
        // A full disk is the store's condition, not the plugin's fault (KP_STORE_NO_SPACE).
        const code = (err as NodeJS.ErrnoException | undefined)?.code;
        if (code === 'ENOSPC' || code === 'EDQUOT') return asKarapaceError(err);
        const message = err instanceof Error ? err.message : String(err);
        return new PluginError('KP_PLUGIN_HOOK_FAILED', `plugin "${plugin}" failed in hook "${hookName}": ${message}`, {
          hint: `check the plugin's options or remove "${plugin}" from your config`,
          cause: err,
          data: { plugin, hook: hookName },
        });
      };
      // A doctor check that throws is reported as a failed check of its plugin: doctor
      // exists to diagnose, so one broken check must not hide the others.
      const settle = (e: unknown, args: unknown[]): void => {
        if (hookName !== 'doctor') throw wrap(e);
        const error = wrap(e);
        (args[0] as DoctorReport).checks.push({
          id: `${plugin}.doctor-check-failed`, title: `plugin "${plugin}" doctor check`, required: false, plugin, status: 'fail',
          detail: `the check threw: ${error.message}`, fix: `report it to the authors of "${plugin}"; the other checks ran`,
        });
      };
      const fn = tap.fn;
      if (tap.type === 'promise') {
        return { ...tap, fn: (...args: unknown[]) => Promise.resolve().then(() => fn(...args)).catch((e: unknown) => settle(e, args)) };
      }
      if (tap.type === 'sync') {
        return { ...tap, fn: (...args: unknown[]) => { try { return fn(...args); } catch (e) { return settle(e, args); } } };
      }
      return {
        ...tap,
        fn: (...args: unknown[]) => {
          const callback = args.pop() as (err?: unknown, result?: unknown) => void;
          const done = (err?: unknown, result?: unknown) => {
            if (!err) return callback(err, result);
            try {
              settle(err, args);
              callback();
            } catch (wrapped) {
              callback(wrapped);
            }
          };
          try {
            return fn(...args, done);
          } catch (e) {
            done(e);
          }
        },
      };
    },
  });
}
