/**
 * A tiny real userland for sandbox tests: /bin/busybox from Debian's busybox-static with a
 * symlink per applet and minimal /etc files (every directory world-readable, /root too). Built once into
 * /var/tmp/karapace-test-cache/busybox-rootfs (readable by everyone, so tests running as an
 * unprivileged user can use it as a lower layer); parallel workers serialise on flock(1).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_CACHE_DIR } from './debian-rootfs.js';

export const BUSYBOX_ROOTFS = join(TEST_CACHE_DIR, 'busybox-rootfs');
const VERSION = '2';

function findBusybox(): string | undefined {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) {
    if (!existsSync(p)) continue;
    // Only a static busybox runs inside a root that has no libc.
    const r = spawnSync('file', ['-L', p], { encoding: 'utf8' });
    if (r.status !== 0 || /statically linked|static-pie/.test(r.stdout)) return p;
  }
  return undefined;
}

/** Why the rootfs cannot be built here, or undefined. */
function complete(): boolean {
  try {
    return readFileSync(join(BUSYBOX_ROOTFS, '.complete'), 'utf8').trim() === VERSION;
  } catch {
    return false;
  }
}

export function busyboxRootfsUnavailable(): string | undefined {
  if (complete()) return undefined;
  if (!findBusybox()) return 'a static busybox is not installed (apt-get install busybox-static)';
  return undefined;
}

/** Path of the busybox rootfs, building it on first use. */
export function busyboxRootfs(): string {
  if (complete()) return BUSYBOX_ROOTFS;
  const busybox = findBusybox();
  if (!busybox) throw new Error(busyboxRootfsUnavailable());
  mkdirSync(TEST_CACHE_DIR, { recursive: true });
  const script = String.raw`
set -eu
out="$1"; busybox="$2"; version="$3"
test "$(cat "$out/.complete" 2>/dev/null)" = "$version" && exit 0
umask 022
mkdir -p "$(dirname "$out")"
chmod 755 "$(dirname "$out")"
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/sbin" "$tmp/usr/bin" "$tmp/usr/sbin" "$tmp/etc" "$tmp/root" "$tmp/home" \
  "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/run" "$tmp/var/tmp" "$tmp/tmp"
chmod 1777 "$tmp/tmp" "$tmp/var/tmp"
cp "$busybox" "$tmp/bin/busybox"
chmod 755 "$tmp/bin/busybox"
"$busybox" --list-full | while read -r applet; do
  [ -e "$tmp/$applet" ] || ln -s /bin/busybox "$tmp/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$tmp/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$tmp/etc/group"
printf 'NAME="BusyBox test rootfs"\nID=busybox\n' > "$tmp/etc/os-release"
echo "$version" > "$tmp/.complete"
rm -rf "$out"
mv "$tmp" "$out"
`;
  const r = spawnSync('flock', [join(TEST_CACHE_DIR, '.busybox-rootfs.lock'), 'sh', '-c', script, 'busybox-rootfs', BUSYBOX_ROOTFS, busybox, VERSION], {
    encoding: 'utf8', timeout: 60_000,
  });
  if (r.status !== 0 || !complete()) throw new Error(`building ${BUSYBOX_ROOTFS} failed: ${r.stderr || r.error?.message}`);
  return BUSYBOX_ROOTFS;
}
