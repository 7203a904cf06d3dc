/**
 * The kernel's runtime API, handed to every plugin as `kernel.api`: what a plugin needs at
 * run time (error classes, process and hashing helpers, tap stages, backend capability
 * names), taken from the host's own kernel. A plugin therefore needs no copy of
 * @karapace/kernel (the CLI is a bundle; a second copy would be another kernel), only its
 * types at build time. Additions raise the minor version, changes the major
 * (docs/plugin-api.md).
 */
import { canonicalJson } from './canonical-json.js';
import { collectOutput, exitStatus, FORWARDED_SIGNALS, forwardSignals } from './child-process.js';
import { asKarapaceError, ExitCode, KarapaceError, ManifestError, PluginError, RuntimeFailure, StoreError, UsageError } from './errors.js';
import { findExecutable } from './find-executable.js';
import { hashBytes, hashFile, isHash, StreamHasher } from './hash.js';
import { nativeBinary } from './native-addon.js';
import { writeFileAtomic } from './store/atomic.js';
import { BACKEND_CAPABILITIES } from './capabilities.js';

/** The version of `kernel.api` and of the hooks' contracts (semver). */
export const KERNEL_API_VERSION = '1.8.0';

/**
 * Tap stages (tapable's `stage`, lower runs first; equal stages run in load order). Built-in
 * plugins load before config plugins and tap at `builtin`; they pass on requests that are not
 * theirs (return undefined), so a plugin answering new requests needs no stage at all.
 */
export const TAP_STAGES = Object.freeze({
  /** Runs before the built-ins: to take over requests a built-in would answer. */
  beforeBuiltins: -10,
  /** The built-ins' stage, and the default. */
  builtin: 0,
  /** Answers only what nobody else did. */
  fallback: 50,
  /** The kernel's own default layer packer (the `pack` hook). */
  kernelPacker: 100,
});

export const KERNEL_API = Object.freeze({
  version: KERNEL_API_VERSION,
  stages: TAP_STAGES,
  /** Keys a backend may declare in `capabilities` (see Backend in kernel.ts). */
  capabilities: BACKEND_CAPABILITIES,
  errors: Object.freeze({ KarapaceError, ManifestError, UsageError, StoreError, RuntimeFailure, PluginError, ExitCode, asKarapaceError }),
  process: Object.freeze({ forwardSignals, exitStatus, collectOutput, FORWARDED_SIGNALS, findExecutable }),
  hash: Object.freeze({ hashBytes, hashFile, isHash, StreamHasher }),
  fs: Object.freeze({ writeFileAtomic }),
  canonicalJson,
  nativeBinary,
});

export type KernelApi = typeof KERNEL_API;
