/** The golden vectors' fixed archive (golden-vectors.test.ts), written byte by byte. */
import { chmodSync, linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archive, entry, gnuLong, header, pax } from './_tar.js';

/** The fixed archive: every entry kind a rootfs holds, in ustar, GNU and PAX spellings. */
export function goldenTar(): Buffer {
  const long = `usr/share/${'long-directory-name/'.repeat(6)}file-with-a-long-name`;
  return archive(
    header({ name: 'etc/', type: '5', mode: 0o755 }),
    entry({ name: 'etc/hostname', mode: 0o644 }, 'golden\n'),
    entry({ name: 'etc/shadow', mode: 0o640, gid: 42 }, 'root:*:1::::::\n'),
    header({ name: 'bin/', type: '5', mode: 0o755 }),
    entry({ name: 'bin/su', mode: 0o4755 }, '#!/bin/sh\necho su\n'),
    header({ name: 'bin/sh', type: '2', mode: 0o777, linkname: 'su' }),
    header({ name: 'bin/sudo', type: '1', mode: 0o4755, linkname: 'bin/su' }),
    header({ name: 'home/dev/', type: '5', mode: 0o700, uid: 1000, gid: 1000 }),
    entry({ name: 'home/dev/notes', mode: 0o600, uid: 1000, gid: 1000 }, 'a'.repeat(1000)),
    // An implied directory (var/lib) and an empty file.
    entry({ name: 'var/lib/empty', mode: 0o644 }),
    header({ name: 'run/initctl', type: '6', mode: 0o600 }),
    header({ name: 'dev/null', type: '3', mode: 0o666, devmajor: 1, devminor: 3 }),
    pax([['path', long], ['uid', '3000000']]),
    entry({ name: 'usr/share/stand-in', mode: 0o644, uid: 0o7777777 }, 'pax long name\n'),
    gnuLong('L', `${long}-gnu`),
    entry({ name: '././@stand-in', mode: 0o755, magic: 'gnu' }, 'gnu long name\n'),
  );
}


/** The golden vectors' fixed tree for packTree (modes set explicitly: no umask in it). */
export function goldenTree(root: string): void {
  const long = join(root, 'usr/share', 'long-directory-name/'.repeat(6));
  mkdirSync(long, { recursive: true });
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/hostname'), 'golden\n');
  chmodSync(join(root, 'etc/hostname'), 0o644);
  writeFileSync(join(root, 'etc/shadow'), 'root:*:1::::::\n');
  chmodSync(join(root, 'etc/shadow'), 0o640);
  writeFileSync(join(long, 'file-with-a-long-name-ünïcødé'), 'a'.repeat(1000));
  chmodSync(join(long, 'file-with-a-long-name-ünïcødé'), 0o755);
  linkSync(join(long, 'file-with-a-long-name-ünïcødé'), join(root, 'etc/hard-link'));
  symlinkSync('hostname', join(root, 'etc/sym'));
  for (const d of ['', 'etc', 'usr', 'usr/share']) chmodSync(join(root, d), 0o755);
  let d = join(root, 'usr/share');
  for (let i = 0; i < 6; i++) chmodSync((d = join(d, 'long-directory-name')), 0o755);
}
