/** How to fix a missing prerequisite on the distributions users ask about (doctor checks of every plugin use these). */

export interface DistroFix {
  debian: string;
  fedora: string;
  opensuse: string;
  arch: string;
}

/** The same fix on every distribution (a sysctl, a systemd drop-in). */
export function everywhere(command: string): DistroFix {
  return { debian: command, fedora: command, opensuse: command, arch: command };
}

/** Packages by distribution → install commands. */
export function install(pkgs: { debian: string; fedora: string; opensuse: string; arch: string }): DistroFix {
  return {
    debian: `sudo apt-get install ${pkgs.debian}`,
    fedora: `sudo dnf install ${pkgs.fedora}`,
    opensuse: `sudo zypper install ${pkgs.opensuse}`,
    arch: `sudo pacman -S ${pkgs.arch}`,
  };
}

/** One line per distribution, the way `doctor` prints it. */
export function formatFix(fix: DistroFix, note?: string): string {
  const same = fix.debian === fix.fedora && fix.debian === fix.opensuse && fix.debian === fix.arch;
  const lines = same ? [`Debian/Ubuntu, Fedora, openSUSE, Arch: ${fix.debian}`] : [
    `Debian/Ubuntu: ${fix.debian}`,
    `Fedora: ${fix.fedora}`,
    `openSUSE: ${fix.opensuse}`,
    `Arch: ${fix.arch}`,
  ];
  return (note ? [note, ...lines] : lines).join('\n');
}
