/**
 * `karapace new`: a manifest from a template, validated before it is written, never over an
 * existing one unless forced. Usable without the CLI (the prompts live in the command).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkName, ManifestError, parseManifest, UsageError, writeFileAtomic, type KarapaceConfig } from '@karapace/kernel';
import { BUILTIN_TEMPLATES, type Template } from './builtin.js';

/** Built-ins, then config `templates` (name → manifest text), later names overriding. */
export function availableTemplates(config: KarapaceConfig): Template[] {
  const byName = new Map(BUILTIN_TEMPLATES.map((t) => [t.name, t]));
  for (const [name, manifest] of Object.entries(config.templates ?? {})) {
    if (typeof manifest !== 'string') {
      throw new ManifestError('KP_TEMPLATE_INVALID', `config template "${name}" must be manifest text (a string)`, { hint: 'set "templates": { "<name>": "manifest_version = 1\\n…" } in your config or preset' });
    }
    byName.set(name, { name, description: byName.has(name) ? 'from config (overrides the built-in)' : 'from config', manifest });
  }
  return [...byName.values()];
}

export interface NewOptions {
  name: string;
  template?: string;
  /** Directory to write into; default `./<name>`. */
  dir?: string;
  /** Replace `[base] image`. */
  image?: string;
  /** Replace `[system] packages`. */
  packages?: string[];
  force?: boolean;
}

export interface NewResult {
  name: string;
  template: string;
  manifest_path: string;
  overwritten: boolean;
}

/** Substitutes image/packages in a template's text, keeping its comments and layout. */
export function customise(text: string, options: { image?: string; packages?: string[] }): string {
  let out = text;
  if (options.image !== undefined) {
    if (!/^image\s*=.*$/m.test(out)) throw new ManifestError('KP_TEMPLATE_NO_IMAGE', 'the template has no `image = …` line to replace');
    out = out.replace(/^image\s*=.*$/m, `image = ${JSON.stringify(options.image)}`);
  }
  if (options.packages !== undefined) {
    const line = `packages = [${options.packages.map((p) => JSON.stringify(p)).join(', ')}]`;
    out = /^packages\s*=.*$/m.test(out) ? out.replace(/^packages\s*=.*$/m, line)
      : /^\[system\]\s*$/m.test(out) ? out.replace(/^\[system\]\s*$/m, `[system]\n${line}`) : `${out.trimEnd()}\n\n[system]\n${line}\n`;
  }
  return out;
}

export async function newProject(cwd: string, config: KarapaceConfig, options: NewOptions): Promise<NewResult> {
  checkName(options.name);
  const templates = availableTemplates(config);
  const templateName = options.template ?? 'minimal';
  const template = templates.find((t) => t.name === templateName);
  if (!template) {
    throw new UsageError('KP_TEMPLATE_UNKNOWN', `no template "${templateName}"`, {
      hint: `pick one of: ${templates.map((t) => t.name).join(', ')} (or add one under "templates" in your config)`,
    });
  }
  const dir = resolve(cwd, options.dir ?? options.name);
  const file = join(dir, 'karapace.toml');
  const exists = existsSync(file);
  if (exists && !options.force) {
    throw new UsageError('KP_NEW_EXISTS', `${file} already exists`, { hint: 'pass --force to overwrite it, or choose another name or --dir' });
  }
  const text = customise(template.manifest, options);
  // A template that does not parse is refused before anything is written.
  parseManifest(text, file);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(file, text);
  return { name: options.name, template: template.name, manifest_path: file, overwritten: exists };
}
