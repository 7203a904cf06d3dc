/** Finding an environment by env_id, short_id, unique prefix or name. */
import { ManifestError, StoreError, UsageError } from '../errors.js';
import { listMetadata, type EnvMetadata } from '../store/metadata.js';
import type { StoreLayout } from '../store/layout.js';

export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError('KP_NAME_INVALID', `invalid environment name "${name}"`, {
      hint: 'names use letters, digits, "_" and "-", 1–64 characters',
    });
  }
  if (/^[0-9a-f]{6,64}$/.test(name)) {
    throw new UsageError('KP_NAME_INVALID', `invalid environment name "${name}": it looks like an id`, {
      hint: 'pick a name that is not 6 or more hex digits, so names and ids never collide',
    });
  }
}

export async function findEnv(layout: StoreLayout, ref: string): Promise<EnvMetadata> {
  const needle = ref.trim();
  if (!needle) throw new UsageError('KP_ENV_REF_EMPTY', 'no environment named', { hint: 'pass an env_id, short_id, prefix or name (see `karapace list`)' });
  // Names are never 6+ hex digits (checkName), so such a reference is an id or a prefix of
  // one: read only the matching files, whatever the size of the store.
  const idLike = /^[0-9a-f]{6,64}$/.test(needle);
  const { envs } = await listMetadata(layout, idLike ? { idPrefix: needle } : {});
  const byName = envs.find((e) => e.name === needle);
  if (byName) return byName;
  const exact = envs.find((e) => e.env_id === needle);
  if (exact) return exact;
  const matches = /^[0-9a-f]+$/.test(needle) ? envs.filter((e) => e.env_id.startsWith(needle)) : [];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new UsageError('KP_ENV_AMBIGUOUS', `"${needle}" matches ${matches.length} environments: ${matches.map((e) => e.short_id).join(', ')}`, {
      hint: 'use more characters of the id, or the name',
      data: { matches: matches.map((e) => e.env_id) },
    });
  }
  throw new StoreError('KP_ENV_NOT_FOUND', `no environment "${needle}" in this store`, {
    hint: 'run `karapace list` to see environments, or `karapace build` to create one',
  });
}

export async function ensureNameFree(layout: StoreLayout, name: string, exceptEnvId?: string): Promise<void> {
  checkName(name);
  const { envs } = await listMetadata(layout);
  const owner = envs.find((e) => e.name === name && e.env_id !== exceptEnvId);
  if (owner) {
    throw new ManifestError('KP_NAME_TAKEN', `the name "${name}" is already used by environment ${owner.short_id}`, {
      hint: `pick another name, or free it with \`karapace rename ${owner.short_id} <new-name>\``,
    });
  }
}
