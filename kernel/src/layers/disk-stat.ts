/** An entry as lstat(2) describes it (the fields the image digests and fingerprints use). */
export interface DiskStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
  rdev: number;
}
