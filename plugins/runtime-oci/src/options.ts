/**
 * Plugin options, from the plugin entry in config or the config section
 * `"@karapace/runtime-oci": { "runtime": "runc", "path": "/opt/bin/runc", "init": true }`.
 */
export const RUNTIME_NAMES = ['crun', 'runc', 'youki'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

export interface OciOptions {
  /** Which runtime to use (crun, runc or youki). Default: the first usable one found on PATH. */
  runtime?: RuntimeName;
  /** Absolute path of the runtime binary (its flavour comes from `runtime` or the file name). */
  path?: string;
  /**
   * The container's pid 1: true (default) = native/build/karapace-init (or $KARAPACE_INIT),
   * an absolute path = that static init binary, false = the command itself is pid 1.
   */
  init?: boolean | string;
}

export function validateOptions(options: unknown): string | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object' || Array.isArray(options)) return 'options must be an object like { "runtime": "runc" }';
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'runtime' && key !== 'path' && key !== 'init') return `unknown option "${key}" (known: runtime, path, init)`;
  }
  if (o.runtime !== undefined && !RUNTIME_NAMES.includes(o.runtime as RuntimeName)) {
    return `"runtime" must be one of ${RUNTIME_NAMES.join(', ')} (got ${JSON.stringify(o.runtime)})`;
  }
  if (o.path !== undefined && (typeof o.path !== 'string' || !o.path.startsWith('/'))) {
    return `"path" must be an absolute path to the runtime binary (got ${JSON.stringify(o.path)})`;
  }
  if (o.init !== undefined && typeof o.init !== 'boolean' && (typeof o.init !== 'string' || !o.init.startsWith('/'))) {
    return `"init" must be true, false or an absolute path to a static init binary (got ${JSON.stringify(o.init)})`;
  }
  return undefined;
}
