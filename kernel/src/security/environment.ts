/**
 * Environment variables that enter an environment: the policy's allow-list minus its
 * deny-list (secrets never pass, even when allowed), plus the identity variables a shell
 * needs (HOME, USER, PATH) and KARAPACE_ENV_ID.
 */
import type { SecurityPolicy } from '../config/types.js';

export const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface InvokingUser {
  uid: number;
  gid: number;
  name: string;
  home: string;
}

/**
 * Whether a variable name matches an `envAllow`/`envDeny` entry: the exact name, or a
 * pattern where `*` stands for any run of characters (`ACME_*`, `*_TOKEN`).
 */
export function envNameMatches(name: string, pattern: string): boolean {
  if (!pattern.includes('*')) return name === pattern;
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${source}$`).test(name);
}

export function filterEnvironment(
  hostEnv: NodeJS.ProcessEnv,
  policy: Pick<SecurityPolicy, 'envAllow' | 'envDeny'>,
  extra: Record<string, string> = {},
): Record<string, string> {
  const denied = (name: string) => policy.envDeny.some((p) => envNameMatches(name, p));
  const out: Record<string, string> = {};
  for (const entry of policy.envAllow) {
    const names = entry.includes('*') ? Object.keys(hostEnv).filter((n) => envNameMatches(n, entry)).sort() : [entry];
    for (const name of names) {
      const value = hostEnv[name];
      if (value !== undefined && !denied(name)) out[name] = value;
    }
  }
  for (const [k, v] of Object.entries(extra)) if (!denied(k)) out[k] = v;
  return out;
}

export function userEnvironment(user: InvokingUser, envId: string): Record<string, string> {
  return { HOME: user.home, USER: user.name, LOGNAME: user.name, PATH: CONTAINER_PATH, KARAPACE_ENV_ID: envId };
}
