/**
 * Finds OCI runtimes: a configured path, or crun, runc and youki on PATH (plus the sbin
 * directories, where Debian installs runc and which non-root PATHs often lack).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { RuntimeFailure } from '@karapace/kernel';
import { RUNTIME_NAMES, type OciOptions, type RuntimeName } from './options.js';
import { knownUnsupported } from './host.js';

export interface RuntimeBinary {
  /** Flavour: decides nothing about the bundle, only how problems are explained. */
  name: RuntimeName | string;
  path: string;
}

const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** `pathEnv` given: only those directories; otherwise $PATH plus the usual bin/sbin dirs. */
export function searchPath(name: string, pathEnv?: string): string | undefined {
  const dirs = pathEnv !== undefined ? pathEnv.split(delimiter).filter(Boolean) : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of new Set(dirs)) {
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

/** Every known runtime present on this host, in preference order. */
export function discoverRuntimes(pathEnv?: string): RuntimeBinary[] {
  const found: RuntimeBinary[] = [];
  for (const name of RUNTIME_NAMES) {
    const path = searchPath(name, pathEnv);
    if (path) found.push({ name, path });
  }
  return found;
}

/**
 * The runtime the backend runs: the configured one, else the first found that is not
 * known to fail on this host (crun on a hybrid cgroup host), else the first found.
 */
export function selectRuntime(options: OciOptions, pathEnv?: string): RuntimeBinary {
  if (options.path) {
    if (!executable(options.path)) {
      throw new RuntimeFailure('KP_OCI_RUNTIME_NOT_FOUND', `the configured OCI runtime ${options.path} does not exist or is not executable`, {
        hint: 'fix "path" in the "@karapace/runtime-oci" config section, or remove it to search PATH',
      });
    }
    return { name: options.runtime ?? basename(options.path), path: options.path };
  }
  if (options.runtime) {
    const path = searchPath(options.runtime, pathEnv);
    if (!path) {
      throw new RuntimeFailure('KP_OCI_RUNTIME_NOT_FOUND', `the configured OCI runtime "${options.runtime}" is not on PATH`, {
        hint: `install it (e.g. \`apt-get install ${options.runtime}\`) or set "path" in the "@karapace/runtime-oci" config section`,
      });
    }
    return { name: options.runtime, path };
  }
  const found = discoverRuntimes(pathEnv);
  const usable = found.find((r) => !knownUnsupported(r.name));
  const chosen = usable ?? found[0];
  if (!chosen) {
    throw new RuntimeFailure('KP_OCI_RUNTIME_NOT_FOUND', `no OCI runtime found (looked for ${RUNTIME_NAMES.join(', ')} on PATH)`, {
      hint: 'install one (e.g. `apt-get install runc`), set "path" in the "@karapace/runtime-oci" config section, or use backend "namespace"',
    });
  }
  return chosen;
}
