/**
 * org.karapace.Manager1 — the interface the service exports at /org/karapace/Manager1.
 * Each method calls the same engine function as the matching CLI command.
 */
import { isAbsolute } from 'node:path';
import dbus from './dbus.js';
import {
  build, createEngine, destroyEnv, effectiveState, findEnv, gcStore, inspectEnv, listEnvs, pinManifest, pullEnvironment, pushEnvironment, renameEnv, runDoctor,
  UsageError, verifyStore,
  type Engine, type EngineOptions,
} from '@karapace/kernel';
import { toDBusError } from './errors.js';

export const BUS_NAME = 'org.karapace.Manager1';
export const OBJECT_PATH = '/org/karapace/Manager1';
export const INTERFACE_NAME = 'org.karapace.Manager1';
export const VERSION = '0.1.0';

type EnvRow = [string, string, string, string, string, string, number];

/** The service has no working directory of the caller's: paths must be absolute. */
function absolute(path: string): void {
  if (!isAbsolute(path)) {
    throw new UsageError('KP_DBUS_RELATIVE_PATH', `manifest path "${path}" is not absolute`, { hint: 'the service has no working directory of yours: pass an absolute path' });
  }
}

export class ManagerInterface extends dbus.interface.Interface {
  /** A fresh engine per call: config edits and new plugins apply without a restart. */
  constructor(private readonly engineOptions: EngineOptions) {
    super(INTERFACE_NAME);
  }

  private async call<T>(fn: (engine: Engine) => Promise<T>): Promise<T> {
    try {
      return await fn(await createEngine(this.engineOptions));
    } catch (err) {
      throw toDBusError(err);
    }
  }

  get Version(): string {
    return VERSION;
  }

  /** (env_id, short_id, name, state, backend, base, packages) per environment. */
  async List(): Promise<EnvRow[]> {
    return this.call(async (engine) => {
      const { environments } = await listEnvs(engine);
      return environments.map((e) => [e.env_id, e.short_id, e.name ?? '', e.state, e.backend, e.base, e.packages] as EnvRow);
    });
  }

  async Status(ref: string): Promise<string> {
    return this.call(async (engine) => effectiveState(engine, await findEnv(engine.layout, ref)));
  }

  /** The environment's metadata as JSON (what `karapace inspect --json` prints). */
  async Inspect(ref: string): Promise<string> {
    return this.call(async (engine) => JSON.stringify(await inspectEnv(engine, ref)));
  }

  /** Builds from an absolute manifest path; returns (env_id, short_id, name, cached). */
  async Build(manifest: string, name: string): Promise<[string, string, string, boolean]> {
    return this.call(async (engine) => {
      absolute(manifest);
      const r = await build(engine, { manifest, ...(name ? { name } : {}) });
      this.changed();
      return [r.env_id, r.short_id, r.name ?? '', r.cached];
    });
  }

  async Destroy(ref: string): Promise<string> {
    return this.call(async (engine) => {
      const r = await destroyEnv(engine, ref);
      this.changed();
      return r.env_id;
    });
  }

  /** Returns the previous name ('' when it had none). */
  async Rename(ref: string, name: string): Promise<string> {
    return this.call(async (engine) => {
      const r = await renameEnv(engine, ref, name);
      this.changed();
      return r.previous ?? '';
    });
  }

  /** The gc report as JSON (what `karapace gc --json` prints). */
  async Gc(dryRun: boolean): Promise<string> {
    return this.call(async (engine) => {
      const r = await gcStore(engine, { dryRun });
      if (!dryRun) this.changed();
      return JSON.stringify(r);
    });
  }

  /**
   * Pulls `reference` from `remote` (a URL or a configured name; '' = the config's default),
   * named `name` ('' = the bundle's suggestion when free): the kernel's verified pull, as
   * `karapace pull`. Returns the result as JSON. The token comes from the config or the
   * service's KARAPACE_REMOTE_TOKEN.
   */
  async Pull(remote: string, reference: string, name: string): Promise<string> {
    return this.call(async (engine) => {
      const r = await pullEnvironment(engine, { reference, ...(remote ? { remote } : {}), ...(name ? { name } : {}) });
      if (!r.cached) this.changed();
      return JSON.stringify(r);
    });
  }

  /**
   * Pushes environment `ref` to `remote` (a URL or a configured name; '' = the config's
   * default) as `reference` ('' = the environment's name @latest): the kernel's push, as
   * `karapace push`. Returns the result as JSON.
   */
  async Push(ref: string, remote: string, reference: string): Promise<string> {
    return this.call(async (engine) => JSON.stringify(await pushEnvironment(engine, { env: ref, ...(remote ? { remote } : {}), ...(reference ? { reference } : {}) })));
  }

  /**
   * Pins the base image of the manifest at an absolute path, as `karapace pin`: `check` only
   * checks (fails when not pinned), `writeLock` also moves karapace.lock. Returns the result as JSON.
   */
  async Pin(manifest: string, check: boolean, writeLock: boolean): Promise<string> {
    return this.call(async (engine) => {
      absolute(manifest);
      return JSON.stringify(await pinManifest(engine, { manifest, check, writeLock }));
    });
  }

  /** (ok, report as JSON): the kernel's checks and every plugin's, as `karapace doctor --json`. */
  async Doctor(): Promise<[boolean, string]> {
    return this.call(async (engine) => {
      const r = await runDoctor(engine);
      return [r.failed.length === 0, JSON.stringify({ ok: r.failed.length === 0, ...r })];
    });
  }

  /** (healthy, report as JSON). */
  async VerifyStore(): Promise<[boolean, string]> {
    return this.call(async (engine) => {
      const r = await verifyStore(engine);
      return [r.ok, JSON.stringify(r)];
    });
  }

  /** Emitted after build, destroy, rename, gc and pull. */
  EnvironmentsChanged(): void {
    // dbus-next emits the signal with this method's (empty) return value.
  }

  private changed(): void {
    this.EnvironmentsChanged();
  }
}

ManagerInterface.configureMembers({
  properties: { Version: { signature: 's', access: 'read' } },
  methods: {
    List: { inSignature: '', outSignature: 'a(ssssssu)' },
    Status: { inSignature: 's', outSignature: 's' },
    Inspect: { inSignature: 's', outSignature: 's' },
    Build: { inSignature: 'ss', outSignature: '(sssb)' },
    Destroy: { inSignature: 's', outSignature: 's' },
    Rename: { inSignature: 'ss', outSignature: 's' },
    Gc: { inSignature: 'b', outSignature: 's' },
    VerifyStore: { inSignature: '', outSignature: '(bs)' },
    Pull: { inSignature: 'sss', outSignature: 's' },
    Push: { inSignature: 'sss', outSignature: 's' },
    Pin: { inSignature: 'sbb', outSignature: 's' },
    Doctor: { inSignature: '', outSignature: '(bs)' },
  },
  signals: { EnvironmentsChanged: { signature: '' } },
});
