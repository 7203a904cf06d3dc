/** KarapaceError → D-Bus error names (org.karapace.Error.*), documented in README.md. */
import dbus from './dbus.js';
import { asKarapaceError } from '@karapace/kernel';

export const ERROR_PREFIX = 'org.karapace.Error';

/** Stable codes with their own D-Bus error name; anything else maps by error class. */
const BY_CODE: Record<string, string> = {
  KP_ENV_NOT_FOUND: 'NotFound',
  KP_ENV_AMBIGUOUS: 'Ambiguous',
  KP_STORE_LOCKED: 'Locked',
  KP_ENV_RUNNING: 'Running',
  KP_NAME_TAKEN: 'NameTaken',
  KP_NAME_INVALID: 'InvalidArgs',
};

const BY_CLASS: Record<string, string> = {
  ManifestError: 'Manifest',
  UsageError: 'InvalidArgs',
  StoreError: 'Store',
  RuntimeFailure: 'Failed',
  PluginError: 'Plugin',
};

export function errorName(code: string, className: string): string {
  return `${ERROR_PREFIX}.${BY_CODE[code] ?? BY_CLASS[className] ?? 'Failed'}`;
}

/** The error a method call returns: name by kind, text = `CODE: message (hint: …)`. */
export function toDBusError(err: unknown): InstanceType<typeof dbus.DBusError> {
  const e = asKarapaceError(err);
  return new dbus.DBusError(errorName(e.code, e.name), `${e.code}: ${e.message}${e.hint ? ` (hint: ${e.hint})` : ''}`);
}
