/**
 * apt's status fd (`-o APT::Status-Fd=2`): `dlstatus:<pkg>:<percent>:<text>` while it
 * downloads, `pmstatus:<pkg>:<percent>:<text>` while dpkg unpacks and configures. Each phase
 * counts 0–100 on its own; an install's progress is downloading in its first half and
 * dpkg's work in its second, never going back.
 */
export interface InstallProgress {
  /** 0–100 over the whole install command. */
  percent: number;
  stage: 'downloading packages' | 'installing packages';
}

// The package field may hold a colon (`jq:amd64`): the percent is the first numeric field after it.
const STATUS = /^(dlstatus|pmstatus):[^:]+(?::[^:]+)*?:(\d+(?:\.\d+)?):/;

/** One status line → its place in the install, or undefined for any other line. */
export function parseAptStatus(line: string): InstallProgress | undefined {
  const m = STATUS.exec(line.trim());
  if (!m) return undefined;
  const phase = Math.min(Math.max(Number(m[2]), 0), 100);
  return m[1] === 'dlstatus'
    ? { percent: Math.floor(phase / 2), stage: 'downloading packages' }
    : { percent: 50 + Math.floor(phase / 2), stage: 'installing packages' };
}

/** Whether a line is a status line (kept out of logs and error excerpts). */
export function isAptStatus(line: string): boolean {
  return STATUS.test(line.trim()) || /^(pmerror|pmconffile|dlerror|media-change):/.test(line.trim());
}
