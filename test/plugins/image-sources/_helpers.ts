/** Shared pieces for the image-sources tests: temp stores, tarballs, a resolve() shortcut. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { ProgressEvent, ResolveRequest } from '@karapace/kernel';
import { Kernel, createLogger } from '@karapace/kernel';
import { resolveImage, resolveOptions, type ImageSourcesOptions } from '@karapace/image-sources';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';

/** Why busybox-based tests cannot run here (they are declared skipped), or undefined. */
export const busyboxMissing = busyboxRootfsUnavailable();
if (busyboxMissing) console.error(`image-sources tests skipped: ${busyboxMissing}`);

export interface TestStore {
  dir: string;
  imagesDir: string;
  stagingDir: string;
  kernel: Kernel;
  events: ProgressEvent[];
  resolve(image: string, extra?: Partial<ResolveRequest>, options?: ImageSourcesOptions): ReturnType<typeof resolveImage>;
}

export function tempStore(t: ExecutionContext): TestStore {
  const dir = mkdtempSync(join(tmpdir(), 'kp-images-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const imagesDir = join(dir, 'images');
  const stagingDir = join(dir, 'store', 'staging');
  mkdirSync(imagesDir, { recursive: true });
  mkdirSync(stagingDir, { recursive: true });
  const kernel = new Kernel({ config: {}, storeRoot: dir, logger: createLogger('error', () => {}) });
  const events: ProgressEvent[] = [];
  kernel.hooks.progress.tap('test', (e) => void events.push(e));
  return {
    dir, imagesDir, stagingDir, kernel, events,
    resolve: (image, extra = {}, options = {}) =>
      resolveImage(kernel, resolveOptions(options, {}), { image, offline: false, imagesDir, stagingDir, manifestDir: dir, ...extra }),
  };
}

/** The busybox rootfs as a tarball (plain, gz or xz). Tests using it are skipped when busyboxMissing. */
export function busyboxTarball(_t: ExecutionContext, dir: string, compression: 'none' | 'gz' | 'xz' | 'zst' = 'none'): string {
  const root = busyboxRootfs();
  const file = join(dir, `busybox.tar${compression === 'none' ? '' : `.${compression}`}`);
  const flag = compression === 'gz' ? ['-z'] : compression === 'xz' ? ['-J'] : compression === 'zst' ? ['--zstd'] : [];
  const r = spawnSync('tar', ['-C', root, '--exclude=./.complete', '--numeric-owner', ...flag, '-cf', file, '.'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return file;
}

export function have(tool: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'have', tool], { stdio: 'ignore' }).status === 0;
}
