/**
 * apt (Debian, Ubuntu). apt drops privileges to `_apt` for downloads; under a user
 * namespace with a single mapped id that user does not exist, hence APT::Sandbox::User=root.
 * Versions come from dpkg-query, which prints exactly what dpkg installed (epoch included).
 */
import { isAptStatus, parseAptStatus } from './apt-status.js';
import { lines, type PackageManagerAdapter } from './types.js';

const APT_OPTIONS = ['-o', 'APT::Sandbox::User=root', '-o', 'Dpkg::Use-Pty=0', '-o', 'APT::Color=0'];

/**
 * Written before the build's `apt-get update`, so it lands in the packages layer: the lists
 * stay (a bare `apt-get install` works inside, as in Debian's container images) but
 * compressed (apt keeps them as .lz4), without translations; apt keeps no binary caches or
 * downloaded .debs, for the build and for installs by hand inside alike.
 */
export const APT_CONFIG_FILE = '/etc/apt/apt.conf.d/90karapace';
export const APT_CONFIG = [
  '// Written by karapace at build: keep the package lists, compressed; keep no other caches.',
  'Acquire::GzipIndexes "true";',
  'Acquire::Languages "none";',
  'Dir::Cache::pkgcache "";',
  'Dir::Cache::srcpkgcache "";',
  'APT::Keep-Downloaded-Packages "false";',
];

export const apt: PackageManagerAdapter = {
  name: 'apt',
  markers: ['usr/bin/apt-get', 'bin/apt-get'],
  environment: { DEBIAN_FRONTEND: 'noninteractive', DEBCONF_NONINTERACTIVE_SEEN: 'true', LC_ALL: 'C' },
  configure: () => [['sh', '-c', `mkdir -p /etc/apt/apt.conf.d && printf '%s\\n' "$@" > ${APT_CONFIG_FILE}`, 'sh', ...APT_CONFIG]],
  refresh: () => ['apt-get', ...APT_OPTIONS, '-q', 'update'],
  install(packages, pinned, { offline }) {
    const targets = packages.map((p) => (pinned?.[p] ? `${p}=${pinned[p]}` : p));
    return [
      'apt-get', ...APT_OPTIONS, '-q', '-y', '--no-install-recommends',
      '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold',
      // Progress records on stderr (apt-status.ts), read as they arrive.
      '-o', 'APT::Status-Fd=2',
      ...(offline ? ['--no-download'] : []),
      'install', ...targets,
    ];
  },
  // `clean` empties archives/ (the .deb files) and partial/; binary caches a base image left go by hand. The lists stay (APT_CONFIG).
  clean: () => [
    ['apt-get', ...APT_OPTIONS, 'clean'],
    ['sh', '-c', 'rm -f /var/cache/apt/*.bin'],
  ],
  query: (packages) => ['dpkg-query', '-W', '-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n', ...packages],
  parseQuery(stdout) {
    const out = [];
    for (const line of lines(stdout)) {
      const [name, version, status] = line.split('\t');
      // "ii" = wanted install, installed; anything else (rc, un) is not installed.
      if (name && version && status?.startsWith('ii')) out.push({ name: name.split(':')[0]!, version });
    }
    return out;
  },
  progress: () => parseAptStatus,
  isProgressLine: isAptStatus,
  needsNetwork: (output) => /Can't find a source to download|Unable to fetch some archives|Temporary failure resolving|Unable to locate package|Could not resolve/.test(output),
};
