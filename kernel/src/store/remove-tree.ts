/**
 * Removes a directory tree that may contain unreadable directories — overlayfs leaves its
 * `work/work` at mode 000, and packages install 0500 dirs — by granting the owner access
 * and retrying. Missing paths are fine.
 */
import { chmod, lstat, readdir, rm } from '../fs-async.js';
import { join } from 'node:path';

async function openUp(dir: string): Promise<void> {
  await chmod(dir, 0o700).catch(() => undefined);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const child = join(dir, name);
    const st = await lstat(child).catch(() => undefined);
    if (st?.isDirectory()) await openUp(child);
  }
}

export async function removeTree(path: string): Promise<void> {
  // Nothing there (a build's target, usually): fs.rm would load Node's rimraf module to say so.
  if (!(await lstat(path).catch(() => undefined))) return;
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') throw err;
    await openUp(path);
    await rm(path, { recursive: true, force: true });
  }
}
