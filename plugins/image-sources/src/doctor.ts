/**
 * `doctor` checks for the tools image sources use. Tools are looked up on PATH in-process
 * (an access(2) per directory): no child process, so a check cannot hang.
 */
import { readFileSync } from 'node:fs';
import { distroInstall, findExecutable, formatFix, invokingUser, type DistroFix, type DoctorCheck, type DoctorReport } from '@karapace/kernel';

const PLUGIN = 'image-sources';

export function which(tool: string, path = process.env.PATH ?? ''): string | undefined {
  return findExecutable(tool, path);
}

const same = (pkg: string) => distroInstall({ debian: pkg, fedora: pkg, opensuse: pkg, arch: pkg });

const TOOLS: { tool: string; title: string; fix: DistroFix; why: string; required: boolean }[] = [
  { tool: 'xz', title: 'xz (decompresses .tar.xz images)', fix: distroInstall({ debian: 'xz-utils', fedora: 'xz', opensuse: 'xz', arch: 'xz' }), why: 'alias images and most rootfs tarballs are .tar.xz', required: false },
  { tool: 'zstd', title: 'zstd (decompresses zstd OCI layers)', fix: same('zstd'), why: 'some registries publish zstd-compressed layers', required: false },
  {
    tool: 'mmdebstrap', title: 'mmdebstrap (bootstrap: images)', why: 'bootstrap:debian/<suite> builds roots with it', required: false,
    fix: {
      debian: 'sudo apt-get install mmdebstrap debian-archive-keyring',
      fedora: 'sudo dnf install mmdebstrap debian-keyring',
      opensuse: 'sudo zypper install mmdebstrap (Tumbleweed)',
      arch: 'sudo pacman -S mmdebstrap debian-archive-keyring',
    },
  },
  { tool: 'cp', title: 'cp (copies local directory images)', fix: same('coreutils'), why: 'local directory images are copied with cp -a', required: true },
  { tool: 'skopeo', title: 'skopeo (optional: copy images between registries)', fix: same('skopeo'), why: 'not needed to pull; useful to push test images to a local registry', required: false },
];

/** What decides the mode mmdebstrap picks for this user (it chooses itself: root as root, else unshare). */
export interface MmdebstrapFacts {
  uid: number;
  name: string;
  /** Contents of /etc/subuid and /etc/subgid ('' when missing). */
  subuid: string;
  subgid: string;
  /** newuidmap on PATH. */
  newuidmap: boolean;
}

function hasRange(file: string, name: string, uid: number): boolean {
  return file.split('\n').some((line) => {
    const [who, , count] = line.trim().split(':');
    return (who === name || who === String(uid)) && Number(count) > 0;
  });
}

/** The truth about mmdebstrap's mode for this user: undefined when it can work, else why not. */
export function mmdebstrapModeProblem(f: MmdebstrapFacts): string | undefined {
  if (f.uid === 0) return undefined;
  const missing = [
    ...(hasRange(f.subuid, f.name, f.uid) ? [] : ['/etc/subuid']),
    ...(hasRange(f.subgid, f.name, f.uid) ? [] : ['/etc/subgid']),
  ];
  if (!missing.length && f.newuidmap) return undefined;
  const why = [...(missing.length ? [`no range for ${f.name} in ${missing.join(' and ')}`] : []), ...(f.newuidmap ? [] : ['newuidmap is not installed'])];
  return `as ${f.name} mmdebstrap runs in unshare mode (chroot and root modes need root), which needs subordinate ids: ${why.join(', ')}`;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function hostMmdebstrapFacts(path?: string): MmdebstrapFacts {
  const user = invokingUser();
  return { uid: process.getuid?.() ?? user.uid, name: user.name, subuid: readOr('/etc/subuid'), subgid: readOr('/etc/subgid'), newuidmap: which('newuidmap', path) !== undefined };
}

const SUBID_FIX = distroInstall({ debian: 'uidmap', fedora: 'shadow-utils', opensuse: 'shadow', arch: 'shadow' });

/** Appends one check per tool; `path` overrides $PATH (tests). */
export async function doctorChecks(report: DoctorReport, path?: string): Promise<void> {
  for (const t of TOOLS) {
    const found = which(t.tool, path);
    // Installed is not enough: say whether the mode it will pick works for this user.
    const modeProblem = found && t.tool === 'mmdebstrap' ? mmdebstrapModeProblem(hostMmdebstrapFacts(path)) : undefined;
    if (modeProblem) {
      report.checks.push({
        id: `image-sources.${t.tool}`, title: t.title, status: 'warn', detail: `${found}: ${modeProblem}`, required: false, plugin: PLUGIN,
        fix: formatFix(SUBID_FIX, `Ask an administrator for a subordinate range (e.g. \`sudo usermod --add-subuids N-M --add-subgids N-M ${invokingUser().name}\`, see \`karapace doctor\`'s namespace.subids for a free range), install newuidmap, or run the build as root:`),
      });
      continue;
    }
    const check: DoctorCheck = {
      id: `image-sources.${t.tool}`,
      title: t.title,
      status: found ? 'ok' : t.required ? 'fail' : 'warn',
      detail: found ? (t.tool === 'mmdebstrap' ? `${found} (${process.getuid?.() === 0 ? 'root mode, as root' : 'unshare mode, with your subordinate ids'})` : found) : `not found on PATH: ${t.why}`,
      required: t.required,
      plugin: PLUGIN,
      ...(found ? {} : { fix: formatFix(t.fix) }),
    };
    report.checks.push(check);
  }
}
