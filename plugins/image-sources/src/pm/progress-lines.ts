/**
 * Install progress from what dnf, zypper, pacman and apk print off a terminal (apt's status
 * fd is apt-status.ts). Each reader is made per install command, since some count lines
 * against a total printed earlier, and maps the tool's counts onto the same scale as apt's:
 * downloads fill 0–50 %, the transaction 50–100 % (a tool reporting one overall fraction
 * fills 0–100 % as "installing packages"; zypper, which alternates, counts both). Formats
 * recorded from dnf 4.14, zypper 1.14.42 and pacman 6.0.2 (test/fixtures/package-managers).
 */
import type { InstallProgress } from './apt-status.js';

/** Reads one line of the install command's output; returns where the install is, if the line says. */
export type ProgressReader = (line: string) => InstallProgress | undefined;

function fraction(k: number, n: number): number {
  return n > 0 ? Math.min(Math.max(k / n, 0), 1) : 0;
}

export function downloaded(k: number, n: number): InstallProgress {
  return { percent: Math.floor(50 * fraction(k, n)), stage: 'downloading packages' };
}

export function installed(k: number, n: number): InstallProgress {
  return { percent: 50 + Math.floor(50 * fraction(k, n)), stage: 'installing packages' };
}

/**
 * dnf 4 and dnf 5. Before `Running transaction`, finished downloads: dnf 4's
 * `(1/2): jq-1.7.1-4.fc39.x86_64.rpm  1.0 MB/s | 187 kB  00:00`, dnf 5's
 * `[1/2] jq-0:1.7.1-8.fc41.x86_64  100% | 1.4 MiB/s | 187.0 KiB | 00m00s`. After it, the
 * transaction: dnf 4's `  Installing       : jq-1.7.1-4.fc39.x86_64   2/2` (Preparing's own
 * 1/1 is no step; Verifying comes once everything is installed), dnf 5's
 * `[4/4] Installing jq-0:1.7.1-8.fc41.x86_64  100% | …`.
 */
export function dnfProgress(): ProgressReader {
  let transaction = false;
  return (raw) => {
    const line = raw.trimEnd();
    if (/^Running transaction$/.test(line.trim())) {
      transaction = true;
      return installed(0, 1);
    }
    const five = /^\[(\d+)\/(\d+)\] /.exec(line);
    if (!transaction) {
      const four = /^\((\d+)\/(\d+)\): /.exec(line);
      const m = four ?? five;
      return m ? downloaded(Number(m[1]), Number(m[2])) : undefined;
    }
    if (five) return installed(Number(five[1]), Number(five[2]));
    const step = /^\s+(Preparing|Installing|Upgrading|Reinstalling|Downgrading|Cleanup|Erasing|Removing|Obsoleting|Running scriptlet|Verifying)\s*:.*\s(\d+)\/(\d+)$/.exec(line);
    if (!step || step[1] === 'Preparing') return undefined;
    return step[1] === 'Verifying' ? installed(1, 1) : installed(Number(step[2]), Number(step[3]));
  };
}

/**
 * zypper: `Retrieving package jq-1.7.1-1.2.x86_64 (2/2),  53.2 KiB (142.3 KiB unpacked)`
 * (newer: `Retrieving: jq-1.7.1-1.2.x86_64 (repo-oss) (2/2),  53.2 KiB`) as it fetches, and
 * `(2/2) Installing: jq-1.7.1-1.2.x86_64 [....done]` as rpm installs. By default zypper
 * fetches each package just before installing it, so the two alternate: each package is
 * half fetched, half installed, and the percent counts both (fetched all in advance, the
 * fetches fill the first half).
 */
export function zypperProgress(): ProgressReader {
  let fetched = 0;
  let done = 0;
  return (raw) => {
    const line = raw.trim();
    const get = /^Retrieving(?::| package) .*?\((\d+)\/(\d+)\),/.exec(line);
    const step = get ? undefined : /^\((\d+)\/(\d+)\) (?:Installing|Removing|Updating|Upgrading|Downgrading)\b/.exec(line);
    const m = get ?? step;
    if (!m) return undefined;
    const total = Number(m[2]);
    if (get) fetched = Math.max(fetched, Number(m[1]));
    else done = Math.max(done, Number(m[1]));
    return { percent: Math.floor(100 * fraction(fetched + done, 2 * total)), stage: get ? 'downloading packages' : 'installing packages' };
  };
}

/**
 * pacman without progress bars (off a terminal, or `--noprogressbar`): the transaction's
 * size from `Packages (2) jq-1.7.1-1  oniguruma-6.9.9-1`, then one ` jq-1.7.1-1-x86_64
 * downloading...` per package fetched and one `installing jq...` (upgrading, reinstalling,
 * downgrading) per package installed, counted against it.
 */
export function pacmanProgress(): ProgressReader {
  let total = 0;
  let fetched = 0;
  let done = 0;
  return (raw) => {
    const line = raw.trim();
    const size = /^Packages \((\d+)\) /.exec(line);
    if (size) {
      total = Number(size[1]);
      return undefined;
    }
    if (total === 0) return undefined;
    if (/^\S+ downloading\.\.\.$/.test(line)) return downloaded(++fetched, total);
    if (/^(?:installing|upgrading|reinstalling|downgrading) \S+\.\.\.$/.test(line)) return installed(++done, total);
    return undefined;
  };
}

/**
 * apk's progress fd (`--progress-fd 2`): `done/total` lines over the whole commit (fetching
 * and installing together), so one fraction, 0–100 %.
 */
export function apkProgress(): ProgressReader {
  return (raw) => {
    const m = APK_PROGRESS.exec(raw.trim());
    if (!m) return undefined;
    return { percent: Math.floor(100 * fraction(Number(m[1]), Number(m[2]))), stage: 'installing packages' };
  };
}

const APK_PROGRESS = /^(\d+)\/(\d+)$/;

/** Whether a line is an apk progress record (kept out of logs and error excerpts). */
export function isApkProgress(line: string): boolean {
  return APK_PROGRESS.test(line.trim());
}
