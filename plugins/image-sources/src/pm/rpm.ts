/** The rpm query shared by dnf and zypper: exact NAME and [EPOCH:]VERSION-RELEASE. */
import type { ResolvedPackage } from '@karapace/kernel';
import { lines } from './types.js';

export const RPM_QUERY_FORMAT = '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n';

export function rpmQuery(packages: string[]): string[] {
  return ['rpm', '-q', '--qf', RPM_QUERY_FORMAT, ...packages];
}

/** `rpm -q` prints "package X is not installed" for missing names (and exits 1). */
export function parseRpmQuery(stdout: string): ResolvedPackage[] {
  const out: ResolvedPackage[] = [];
  for (const line of lines(stdout)) {
    if (/ is not installed$/.test(line)) continue;
    const [name, version] = line.split('\t');
    if (name && version) out.push({ name, version });
  }
  return out;
}
