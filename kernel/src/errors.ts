/**
 * Typed errors. Every error Karapace raises on purpose is a KarapaceError: it carries a
 * stable code (never reused), the exit code the CLI returns, and a hint that tells the
 * user what to do next. Only the CLI's bin turns these into a process exit code.
 */

/** Exit codes: 0 ok, 1 failure, 2 manifest/usage error, 3 store error. */
export const ExitCode = Object.freeze({
  Ok: 0,
  Failure: 1,
  Manifest: 2,
  Store: 3,
});
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorDetails {
  hint?: string;
  cause?: unknown;
  /** Extra machine-readable fields, included in `--json` error output. */
  data?: Record<string, unknown>;
}

/** Brand shared by every copy of the kernel (plugins may bundle their own). */
const BRAND = Symbol.for('karapace.error');

export class KarapaceError extends Error {
  /**
   * `instanceof` works across copies of this module: a plugin that bundles its own kernel
   * still throws errors the CLI recognises (by brand, then by class name for subclasses).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (!value || typeof value !== 'object' || (value as Record<symbol, unknown>)[BRAND] !== true) return false;
    if (this === KarapaceError) return true;
    for (let proto = Object.getPrototypeOf(value); proto && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
      if (proto.constructor?.name === this.name) return true;
    }
    return false;
  }

  readonly code: string;
  readonly exitCode: number;
  readonly hint?: string;
  readonly data?: Record<string, unknown>;

  constructor(code: string, exitCode: number, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: true });
    this.code = code;
    this.exitCode = exitCode;
    this.hint = details.hint;
    this.data = details.data;
  }

  toJSON(): Record<string, unknown> {
    return {
      error: {
        code: this.code,
        name: this.name,
        message: this.message,
        exitCode: this.exitCode,
        ...(this.hint ? { hint: this.hint } : {}),
        ...(this.data ? { data: this.data } : {}),
      },
    };
  }
}

/** The manifest or lock file is invalid, or the user asked for something malformed (exit 2). */
export class ManifestError extends KarapaceError {
  constructor(code: string, message: string, details?: ErrorDetails) {
    super(code, ExitCode.Manifest, message, details);
  }
}

/** Bad command-line usage (exit 2). */
export class UsageError extends KarapaceError {
  constructor(code: string, message: string, details?: ErrorDetails) {
    super(code, ExitCode.Manifest, message, details);
  }
}

/** The store is corrupt, locked, of an unknown version, or out of space (exit 3). */
export class StoreError extends KarapaceError {
  constructor(code: string, message: string, details?: ErrorDetails) {
    super(code, ExitCode.Store, message, details);
  }
}

/** Anything else that failed: a plugin, a backend, a download (exit 1). */
export class RuntimeFailure extends KarapaceError {
  constructor(code: string, message: string, details?: ErrorDetails) {
    super(code, ExitCode.Failure, message, details);
  }
}

/** A plugin could not be loaded or threw while applying or inside a hook (exit 1). */
export class PluginError extends KarapaceError {
  constructor(code: string, message: string, details?: ErrorDetails) {
    super(code, ExitCode.Failure, message, details);
  }
}

// Class names that survive minification: `--json` error documents carry them, and
// instanceof across copies of this module compares them. The start-up bundles are minified
// without keeping every function's name, which shows up in start-up time.
for (const [cls, name] of [
  [KarapaceError, 'KarapaceError'], [ManifestError, 'ManifestError'], [UsageError, 'UsageError'],
  [StoreError, 'StoreError'], [RuntimeFailure, 'RuntimeFailure'], [PluginError, 'PluginError'],
] as const) {
  Object.defineProperty(cls, 'name', { value: name, configurable: true });
}

/** Wraps a non-Karapace error so it can be reported uniformly. */
export function asKarapaceError(err: unknown): KarapaceError {
  if (err instanceof KarapaceError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e && (e.code === 'ENOSPC' || e.code === 'EDQUOT')) {
    return new StoreError('KP_STORE_NO_SPACE', `no space left on device${e.path ? ` (${e.path})` : ''}`, {
      hint: 'free disk space or point --store at a larger filesystem; the store was left consistent',
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new RuntimeFailure('KP_INTERNAL', message, {
    hint: 'run again with --trace for details and report it if it persists',
    cause: err,
  });
}
