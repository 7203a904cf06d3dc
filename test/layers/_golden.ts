/** The golden vectors' fixed archive (golden-vectors.test.ts), written byte by byte. */
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

