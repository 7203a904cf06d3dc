/**
 * The rule for app names (`[gui] apps`, `karapace export <env> <app>`): an app name becomes
 * part of host file names (`karapace-<id>-<app>.desktop`, `~/.local/bin/<app>`), so it is a
 * plain name — letters, digits, ".", "_", "+", "-", not starting with a dot — or an absolute,
 * normalized path inside the environment whose last component is such a name.
 */
import { posix } from 'node:path';

export const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/** The name host files get for `app`, or undefined when `app` is neither a plain name nor a clean absolute path. */
export function appFileName(app: unknown): string | undefined {
  if (typeof app !== 'string') return undefined;
  const absolute = app.startsWith('/');
  if (absolute && (posix.normalize(app) !== app || app.endsWith('/'))) return undefined;
  const name = absolute ? posix.basename(app) : app;
  return APP_NAME.test(name) ? name : undefined;
}

export const APP_NAME_HINT = 'use a name like `firefox` (letters, digits, ".", "_", "+", "-"), or an absolute path inside the environment like `/usr/bin/firefox`';
