/** `doctor` checks for the tools image sources use. */
import { spawnSync } from 'node:child_process';
import type { DoctorCheck, DoctorReport } from '@karapace/kernel';

const PLUGIN = 'image-sources';

function which(tool: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v "$1"`, 'which', tool], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const TOOLS: { tool: string; title: string; pkg: string; why: string; required: boolean }[] = [
  { tool: 'xz', title: 'xz (decompresses .tar.xz images)', pkg: 'xz-utils', why: 'alias images and most rootfs tarballs are .tar.xz', required: false },
  { tool: 'zstd', title: 'zstd (decompresses zstd OCI layers)', pkg: 'zstd', why: 'some registries publish zstd-compressed layers', required: false },
  { tool: 'mmdebstrap', title: 'mmdebstrap (bootstrap: images)', pkg: 'mmdebstrap debian-archive-keyring', why: 'bootstrap:debian/<suite> builds roots with it', required: false },
  { tool: 'cp', title: 'cp (copies local directory images)', pkg: 'coreutils', why: 'local directory images are copied with cp -a', required: true },
  { tool: 'skopeo', title: 'skopeo (optional: copy images between registries)', pkg: 'skopeo', why: 'not needed to pull; useful to push test images to a local registry', required: false },
];

export async function doctorChecks(report: DoctorReport): Promise<void> {
  for (const t of TOOLS) {
    const path = which(t.tool);
    const check: DoctorCheck = {
      id: `image-sources.${t.tool}`,
      title: t.title,
      status: path ? 'ok' : t.required ? 'fail' : 'warn',
      detail: path ? path : `not found: ${t.why}`,
      required: t.required,
      plugin: PLUGIN,
      ...(path ? {} : { fix: `apt-get install ${t.pkg}` }),
    };
    report.checks.push(check);
  }
}
