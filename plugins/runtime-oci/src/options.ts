/**
 * Plugin options, from the plugin entry in config or the config section
 * `"@karapace/runtime-oci": { "runtime": "runc", "path": "/opt/bin/runc" }`.
 */
export const RUNTIME_NAMES = ['crun', 'runc', 'youki'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

export interface OciOptions {
  /** Which runtime to use (crun, runc or youki). Default: the first usable one found on PATH. */
  runtime?: RuntimeName;
  /** Absolute path of the runtime binary (its flavour comes from `runtime` or the file name). */
  path?: string;
}

export function validateOptions(options: unknown): string | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object' || Array.isArray(options)) return 'options must be an object like { "runtime": "runc" }';
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'runtime' && key !== 'path') return `unknown option "${key}" (known: runtime, path)`;
  }
  if (o.runtime !== undefined && !RUNTIME_NAMES.includes(o.runtime as RuntimeName)) {
    return `"runtime" must be one of ${RUNTIME_NAMES.join(', ')} (got ${JSON.stringify(o.runtime)})`;
  }
  if (o.path !== undefined && (typeof o.path !== 'string' || !o.path.startsWith('/'))) {
    return `"path" must be an absolute path to the runtime binary (got ${JSON.stringify(o.path)})`;
  }
  return undefined;
}
