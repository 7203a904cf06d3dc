/**
 * `bootstrap:debian/<suite>` and `bootstrap:ubuntu/<suite>`: builds a root with mmdebstrap
 * (minbase variant by default) from an apt mirror into a tarball, then extracts it like
 * any other archive. mmdebstrap picks its mode itself: `root` as root, `unshare` otherwise.
 * A bootstrap is not byte-reproducible over time (the mirror moves on), so its pin is the
 * tree digest of the result: a pinned bootstrap fails once the mirror changed — use the
 * lock's cached image, or pin an archive, for long-lived pins.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RuntimeFailure } from '@karapace/kernel';
import { BOOTSTRAP_DISTROS } from '../aliases.js';
import { hostDebianMirror } from '../host-sources.js';
import { cacheKey, cachedImage, type CachedImage } from '../cache.js';
import { offlineError } from '../http.js';
import { log, startTask } from '../progress.js';
import type { ResolvedOptions } from '../options.js';
import type { Pin } from '../reference.js';
import { imageFromArchive } from './archive.js';
import { MMDEBSTRAP_STAGES, mmdebstrapStage } from './mmdebstrap-stages.js';
import type { ResolveContext } from './context.js';
import { checkTreePin } from './local.js';

/** Far above what a bootstrap needs from a good mirror: a slow one must not fail it. */
const BOOTSTRAP_TIMEOUT_MS = 30 * 60_000;

/** Without a mirror mmdebstrap uses its own default archive. Not --quiet: its `I:` lines are the stages (mmdebstrap-stages.ts). */
export function mmdebstrapArgv(suite: string, output: string, mirror: string | undefined, variant: string): string[] {
  return ['mmdebstrap', `--variant=${variant}`, '--format=tar', suite, output, ...(mirror ? [mirror] : [])];
}

/**
 * The configured mirror; else, for Debian, the host's own archive (its apt sources); else
 * none, and mmdebstrap picks the archive for the suite itself.
 */
export function bootstrapMirror(options: ResolvedOptions, distro: string, etcApt?: string): string | undefined {
  return options[BOOTSTRAP_DISTROS[distro]!.mirrorOption] ?? (distro === 'debian' ? hostDebianMirror(etcApt) : undefined);
}

export async function resolveBootstrap(ctx: ResolveContext, distro: string, suite: string, pin?: Pin): Promise<CachedImage> {
  const mirror = bootstrapMirror(ctx.options, distro);
  const variant = ctx.options.variant;
  const key = cacheKey('bootstrap', `${distro}/${suite}\0${mirror ?? ''}\0${variant}`);
  const cached = await cachedImage(ctx.kernel, ctx.request, key);
  if (cached && (!ctx.request.expectedDigest || cached.digest === ctx.request.expectedDigest)) return checkTreePin(cached, pin);
  if (ctx.request.offline) throw offlineError(`bootstrapping ${distro}/${suite} from ${mirror ?? "mmdebstrap's default mirror"}`);
  const workDir = join(ctx.request.stagingDir, `bootstrap-${key}-${process.pid}`);
  await mkdir(workDir, { recursive: true });
  const tarball = join(workDir, 'rootfs.tar');
  try {
    await runMmdebstrap(ctx, mmdebstrapArgv(suite, tarball, mirror, variant), `${distro}/${suite}`);
    // The pinned form names the tree, which is what a bootstrap reproduces (or not).
    const img = await imageFromArchive(ctx, tarball, { key, kind: 'bootstrap', source: (_archive, digest) => `bootstrap:${distro}/${suite}#blake3=${digest}` });
    return checkTreePin(img, pin);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function runMmdebstrap(ctx: ResolveContext, argv: string[], what: string): Promise<void> {
  const task = startTask(ctx.kernel, `bootstrapping ${what} with mmdebstrap`, MMDEBSTRAP_STAGES.length, 'items');
  log(ctx.kernel, 'debug', argv.join(' '));
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    // A stuck mirror must not hang the build forever.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, BOOTSTRAP_TIMEOUT_MS);
    let output = '';
    let partial = '';
    let stage = 0;
    const onData = (c: Buffer) => {
      output += c;
      const parts = (partial + c.toString()).split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        if (!line.trim()) continue;
        log(ctx.kernel, 'debug', `mmdebstrap: ${line}`);
        const next = mmdebstrapStage(line, stage);
        if (next) task.advance((stage = next.index), MMDEBSTRAP_STAGES.length, next.name);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      task.end(false, e.message);
      reject(e.code === 'ENOENT'
        ? new RuntimeFailure('KP_TOOL_MISSING', 'mmdebstrap is needed for bootstrap: images but is not installed', {
            hint: 'apt-get install mmdebstrap debian-archive-keyring (and uidmap when not root)',
          })
        : e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) {
        task.end(false, 'timed out');
        reject(new RuntimeFailure('KP_BOOTSTRAP_FAILED', `mmdebstrap ${what} did not finish within ${BOOTSTRAP_TIMEOUT_MS / 60_000} minutes`, {
          hint: 'check that the mirror is reachable and fast enough (plugin option "mirror"), then build again',
        }));
        return;
      }
      if (code === 0) {
        task.end(true);
        resolve();
        return;
      }
      task.end(false, `exit ${code}`);
      reject(new RuntimeFailure('KP_BOOTSTRAP_FAILED', `mmdebstrap ${what} failed (exit ${code}):\n${output.split('\n').slice(-20).join('\n')}`, {
        hint: 'check the mirror URL (plugin option "mirror") and network access; without root mmdebstrap needs subordinate ids (/etc/subuid)',
      }));
    });
  });
}
