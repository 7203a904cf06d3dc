import type { KarapaceConfig, PluginSpec } from './types.js';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function pluginName(spec: PluginSpec): string {
  return typeof spec === 'string' ? spec : spec[0];
}

/**
 * Merges `over` onto `base`: objects merge key by key (recursively), scalars and arrays
 * are replaced, except `plugins`, which concatenate — a later entry with the same module
 * name replaces the earlier one in place (so a project can re-configure a preset's plugin).
 */
export function mergeConfig(base: KarapaceConfig, over: KarapaceConfig): KarapaceConfig {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (key === 'extends') continue;
    if (key === 'plugins' && Array.isArray(value)) {
      const merged: PluginSpec[] = [...((base.plugins as PluginSpec[] | undefined) ?? [])];
      for (const spec of value as PluginSpec[]) {
        const at = merged.findIndex((s) => pluginName(s) === pluginName(spec));
        if (at >= 0) merged[at] = spec;
        else merged.push(spec);
      }
      out.plugins = merged;
    } else if (isPlainObject(value) && isPlainObject(out[key])) {
      out[key] = mergeConfig(out[key] as KarapaceConfig, value as KarapaceConfig);
    } else if (value !== undefined) {
      out[key] = value;
    }
  }
  return out as KarapaceConfig;
}
