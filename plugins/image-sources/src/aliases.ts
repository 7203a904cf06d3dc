/**
 * Distribution aliases (the seed's names) → image-server product (`os`, `release`). The
 * server's own names are used: Ubuntu by codename, Arch as archlinux/current.
 */
export interface AliasTarget {
  os: string;
  release: string;
}

export const ALIASES: Readonly<Record<string, AliasTarget>> = Object.freeze({
  rolling: { os: 'opensuse', release: 'tumbleweed' },
  'opensuse/tumbleweed': { os: 'opensuse', release: 'tumbleweed' },
  tumbleweed: { os: 'opensuse', release: 'tumbleweed' },
  'opensuse/leap': { os: 'opensuse', release: '15.6' },
  ubuntu: { os: 'ubuntu', release: 'noble' },
  'ubuntu/24.04': { os: 'ubuntu', release: 'noble' },
  'ubuntu/noble': { os: 'ubuntu', release: 'noble' },
  'ubuntu/22.04': { os: 'ubuntu', release: 'jammy' },
  'ubuntu/jammy': { os: 'ubuntu', release: 'jammy' },
  'ubuntu/20.04': { os: 'ubuntu', release: 'focal' },
  'ubuntu/focal': { os: 'ubuntu', release: 'focal' },
  debian: { os: 'debian', release: 'bookworm' },
  'debian/bookworm': { os: 'debian', release: 'bookworm' },
  'debian/12': { os: 'debian', release: 'bookworm' },
  'debian/trixie': { os: 'debian', release: 'trixie' },
  'debian/13': { os: 'debian', release: 'trixie' },
  'debian/sid': { os: 'debian', release: 'sid' },
  fedora: { os: 'fedora', release: '42' },
  'fedora/40': { os: 'fedora', release: '40' },
  'fedora/41': { os: 'fedora', release: '41' },
  'fedora/42': { os: 'fedora', release: '42' },
  arch: { os: 'archlinux', release: 'current' },
  archlinux: { os: 'archlinux', release: 'current' },
});

/** Suites mmdebstrap can build, for the `bootstrap:` source. */
export const BOOTSTRAP_DISTROS: Readonly<Record<string, { suites: Record<string, string>; mirrorOption: 'mirror' | 'ubuntuMirror' }>> = Object.freeze({
  debian: { suites: { bookworm: 'bookworm', '12': 'bookworm', trixie: 'trixie', '13': 'trixie', sid: 'sid', unstable: 'sid' }, mirrorOption: 'mirror' },
  ubuntu: { suites: { noble: 'noble', '24.04': 'noble', jammy: 'jammy', '22.04': 'jammy', focal: 'focal', '20.04': 'focal' }, mirrorOption: 'ubuntuMirror' },
});

/** Image-server architecture name for this machine. */
export function serverArch(nodeArch: string = process.arch): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'armhf', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[nodeArch] ?? nodeArch;
}
