/**
 * `doctor` checks for the tools image sources use. Tools are looked up on PATH in-process
 * (an access(2) per directory): no child process, so a check cannot hang.
 */
import { distroInstall, findExecutable, formatFix, type DistroFix, type DoctorCheck, type DoctorReport } from '@karapace/kernel';

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

/** Appends one check per tool; `path` overrides $PATH (tests). */
export async function doctorChecks(report: DoctorReport, path?: string): Promise<void> {
  for (const t of TOOLS) {
    const found = which(t.tool, path);
    const check: DoctorCheck = {
      id: `image-sources.${t.tool}`,
      title: t.title,
      status: found ? 'ok' : t.required ? 'fail' : 'warn',
      detail: found ? found : `not found on PATH: ${t.why}`,
      required: t.required,
      plugin: PLUGIN,
      ...(found ? {} : { fix: formatFix(t.fix) }),
    };
    report.checks.push(check);
  }
}
