/**
 * pacman (Arch Linux). Arch repositories carry only the current version, so a locked
 * version that is no longer current fails to install (the error says so); `--needed` keeps
 * re-installs cheap.
 */
import { pacmanProgress } from './progress-lines.js';
import { lines, type PackageManagerAdapter } from './types.js';

export const pacman: PackageManagerAdapter = {
  name: 'pacman',
  markers: ['usr/bin/pacman'],
  environment: { LC_ALL: 'C' },
  refresh: () => ['pacman', '-Sy', '--noconfirm'],
  install(packages, pinned) {
    const targets = packages.map((p) => (pinned?.[p] ? `${p}=${pinned[p]}` : p));
    return ['pacman', '-S', '--noconfirm', '--needed', '--noprogressbar', ...targets];
  },
  // `pacman -Scc --noconfirm` takes the prompt's default, which is "no": remove by hand.
  clean: () => [['sh', '-c', 'rm -rf /var/cache/pacman/pkg/* /var/lib/pacman/sync/*']],
  query: (packages) => ['pacman', '-Q', ...packages],
  parseQuery(stdout) {
    const out = [];
    for (const line of lines(stdout)) {
      if (line.startsWith('error:')) continue;
      const [name, version] = line.split(/\s+/);
      if (name && version) out.push({ name, version });
    }
    return out;
  },
  progress: pacmanProgress,
  needsNetwork: (output) => /failed retrieving file|could not resolve host|failed to synchronize/.test(output),
};
