/** Plugin options (config: `"@karapace/runtime-namespace": { … }`). */
export interface NamespaceOptions {
  /** Path of karapace-sandbox (default: $KARAPACE_SANDBOX, then native/build). */
  launcher?: string;
  /** `auto` (default): full subordinate-id mapping when available; `single` forces single-id. */
  idMapping?: 'auto' | 'single';
  /** `auto` (default): kernel overlayfs on Linux ≥ 5.11, else fuse-overlayfs. */
  overlay?: 'auto' | 'kernel' | 'fuse';
}

export function validateOptions(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object') return 'options must be an object';
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['launcher', 'idMapping', 'overlay'].includes(key)) return `unknown option "${key}" (known: launcher, idMapping, overlay)`;
  }
  if (o.launcher !== undefined && typeof o.launcher !== 'string') return '"launcher" must be a path';
  if (o.idMapping !== undefined && o.idMapping !== 'auto' && o.idMapping !== 'single') return '"idMapping" must be "auto" or "single"';
  if (o.overlay !== undefined && !['auto', 'kernel', 'fuse'].includes(o.overlay as string)) return '"overlay" must be "auto", "kernel" or "fuse"';
  return undefined;
}
