/** apk (Alpine). `apk info -vv` style output: "name-version-rN - description". */
import type { ResolvedPackage } from '@karapace/kernel';
import { apkProgress, isApkProgress } from './progress-lines.js';
import { lines, type PackageManagerAdapter } from './types.js';

/** Splits "name-1.2.3-r4" at the dash that starts the version (a digit follows it). */
export function splitApkNameVersion(token: string): ResolvedPackage | undefined {
  const m = /^(.+?)-(\d[^\s]*-r\d+)$/.exec(token);
  return m ? { name: m[1]!, version: m[2]! } : undefined;
}

export const apk: PackageManagerAdapter = {
  name: 'apk',
  markers: ['sbin/apk', 'usr/sbin/apk', 'bin/apk', 'usr/bin/apk'],
  environment: { LC_ALL: 'C' },
  refresh: () => ['apk', 'update', '--quiet'],
  install(packages, pinned, { offline }) {
    const targets = packages.map((p) => (pinned?.[p] ? `${p}=${pinned[p]}` : p));
    // Progress records on stderr (progress-lines.ts), without the terminal bar.
    return ['apk', 'add', '--no-progress', '--progress-fd', '2', ...(offline ? ['--no-network'] : []), ...targets];
  },
  // APKINDEX files from `apk update` (and packages, when a cache is configured).
  clean: () => [['sh', '-c', 'rm -rf /var/cache/apk/*']],
  // `apk list --installed` prints "name-version arch {origin} (license) [installed]".
  query: () => ['apk', 'list', '--installed'],
  parseQuery(stdout) {
    const out: ResolvedPackage[] = [];
    for (const line of lines(stdout)) {
      const parsed = splitApkNameVersion(line.split(/\s+/)[0] ?? '');
      if (parsed) out.push(parsed);
    }
    return out;
  },
  progress: apkProgress,
  isProgressLine: isApkProgress,
  needsNetwork: (output) => /network error|temporary error \(try again later\)|unable to select packages|--no-network/.test(output),
};
