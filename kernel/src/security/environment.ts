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

export function filterEnvironment(
  hostEnv: NodeJS.ProcessEnv,
  policy: Pick<SecurityPolicy, 'envAllow' | 'envDeny'>,
  extra: Record<string, string> = {},
): Record<string, string> {
  const deny = new Set(policy.envDeny);
  const out: Record<string, string> = {};
  for (const name of policy.envAllow) {
    const value = hostEnv[name];
    if (value !== undefined && !deny.has(name)) out[name] = value;
  }
  for (const [k, v] of Object.entries(extra)) if (!deny.has(k)) out[k] = v;
  return out;
}

export function userEnvironment(user: InvokingUser, envId: string): Record<string, string> {
  return { HOME: user.home, USER: user.name, LOGNAME: user.name, PATH: CONTAINER_PATH, KARAPACE_ENV_ID: envId };
}
