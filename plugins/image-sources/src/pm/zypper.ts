/** zypper (openSUSE Tumbleweed / Leap). */
import { parseRpmQuery, rpmQuery } from './rpm.js';
import { zypperProgress } from './progress-lines.js';
import type { PackageManagerAdapter } from './types.js';

export const zypper: PackageManagerAdapter = {
  name: 'zypper',
  markers: ['usr/bin/zypper'],
  environment: { LC_ALL: 'C' },
  refresh: () => ['zypper', '--non-interactive', '--gpg-auto-import-keys', 'refresh'],
  install(packages, pinned, { offline }) {
    const targets = packages.map((p) => (pinned?.[p] ? `${p}=${pinned[p]}` : p));
    // Offline: no repository refresh; with container networking off a missing rpm fails the download.
    return ['zypper', '--non-interactive', ...(offline ? ['--no-refresh'] : []), 'install', '--no-recommends', ...targets];
  },
  // Downloaded rpms, raw metadata and solv files under /var/cache/zypp.
  clean: () => [['zypper', '--non-interactive', 'clean', '--all']],
  query: rpmQuery,
  parseQuery: parseRpmQuery,
  progress: zypperProgress,
  needsNetwork: (output) => /Download \(curl\) error|Valid metadata not found|Repository '.*' is invalid|Problem retrieving files/.test(output),
};
