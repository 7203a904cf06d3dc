/** dnf (Fedora; dnf5 keeps the same command line for what we use). */
import { parseRpmQuery, rpmQuery } from './rpm.js';
import { dnfProgress } from './progress-lines.js';
import type { PackageManagerAdapter } from './types.js';

export const dnf: PackageManagerAdapter = {
  name: 'dnf',
  markers: ['usr/bin/dnf', 'usr/bin/dnf5', 'usr/bin/dnf-3'],
  environment: { LC_ALL: 'C' },
  refresh: () => ['dnf', '-y', '--quiet', 'makecache'],
  install(packages, pinned, { offline }) {
    // dnf takes name-[epoch:]version-release; an epoch goes between name and version.
    const targets = packages.map((p) => (pinned?.[p] ? `${p}-${pinned[p]}` : p));
    return ['dnf', '-y', '--setopt=install_weak_deps=False', ...(offline ? ['--cacheonly'] : []), 'install', ...targets];
  },
  // Downloaded rpms and repository metadata under /var/cache/dnf (/var/cache/libdnf5 for dnf5).
  clean: () => [['dnf', '--quiet', 'clean', 'all']],
  query: rpmQuery,
  parseQuery: parseRpmQuery,
  progress: dnfProgress,
  needsNetwork: (output) => /Cache-only enabled but no cache|Failed to download metadata|Cannot download|Curl error/.test(output),
};
