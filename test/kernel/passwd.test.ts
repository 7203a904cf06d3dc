/**
 * The shared passwd/group generator and the merged-root reader under it: overlayfs rules
 * (whiteouts in both forms, opaque directories, a whiteout on a parent, symlinks resolved
 * inside the root) decide what the generator starts from.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupWithUser, passwdWithUser, readMergedFile, resolveMerged, writeIdentityFiles } from '@karapace/kernel';
import { writeXattr } from '../../kernel/src/layers/xattrs.js';

const base = mkdtempSync(join(tmpdir(), 'kp-passwd-'));
test.after.always(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** upper + lower dirs; `lower` gets an /etc/passwd and /etc/group. */
function layers() {
  const dir = join(base, String(n++));
  const upper = join(dir, 'upper');
  const lower = join(dir, 'lower');
  const runtime = join(dir, 'runtime');
  for (const d of [upper, join(lower, 'etc'), runtime]) mkdirSync(d, { recursive: true });
  writeFileSync(join(lower, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n');
  writeFileSync(join(lower, 'etc/group'), 'root:x:0:\ndaemon:x:1:\n');
  return { upper, lower, runtime, env: { paths: { dir, upper, work: join(dir, 'work'), runtime }, lowerDirs: [lower] } };
}

const mknodOk = spawnSync('sh', ['-c', `mknod ${join(base, 'probe')} c 0 0 && rm ${join(base, 'probe')}`], { stdio: 'ignore' }).status === 0;
const xattrOk = (() => {
  try {
    writeFileSync(join(base, 'x'), '');
    writeXattr(join(base, 'x'), 'user.karapace.probe', '1');
    return true;
  } catch {
    return false;
  }
})();

test('the upper dir wins; without it the lowers are read', (t) => {
  const l = layers();
  t.regex(readMergedFile([l.upper, l.lower], 'etc/passwd')!, /^daemon:/m);
  mkdirSync(join(l.upper, 'etc'));
  writeFileSync(join(l.upper, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  t.is(readMergedFile([l.upper, l.lower], 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  t.is(readMergedFile([l.upper, l.lower], 'etc/shadow'), undefined);
});

(mknodOk ? test : test.skip)('a whiteout device (0/0) in the upper dir means absent, also on a parent directory', (t) => {
  const l = layers();
  mkdirSync(join(l.upper, 'etc'));
  t.is(spawnSync('mknod', [join(l.upper, 'etc/passwd'), 'c', '0', '0']).status, 0);
  t.is(readMergedFile([l.upper, l.lower], 'etc/passwd'), undefined);
  t.regex(readMergedFile([l.upper, l.lower], 'etc/group')!, /daemon/);
  // The generator then starts from a bare root entry, not from the deleted file.
  const files = writeIdentityFiles(l.env, { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' });
  t.is(readFileSync(files.passwd, 'utf8'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n');
  const m = layers();
  t.is(spawnSync('mknod', [join(m.upper, 'etc'), 'c', '0', '0']).status, 0);
  t.is(readMergedFile([m.upper, m.lower], 'etc/passwd'), undefined);
});

(xattrOk ? test : test.skip)('the xattr whiteout form and opaque directories hide the lowers', (t) => {
  const l = layers();
  mkdirSync(join(l.upper, 'etc'));
  writeFileSync(join(l.upper, 'etc/passwd'), '');
  writeXattr(join(l.upper, 'etc/passwd'), 'user.overlay.whiteout', '');
  t.is(readMergedFile([l.upper, l.lower], 'etc/passwd'), undefined);
  // An empty file without the flag is just an empty file.
  writeFileSync(join(l.upper, 'etc/group'), '');
  t.is(readMergedFile([l.upper, l.lower], 'etc/group'), '');
  const o = layers();
  mkdirSync(join(o.upper, 'etc'));
  writeXattr(join(o.upper, 'etc'), 'user.overlay.opaque', 'y');
  t.is(readMergedFile([o.upper, o.lower], 'etc/passwd'), undefined);
});

test('symlinks resolve inside the merged root, never on the host', (t) => {
  const l = layers();
  mkdirSync(join(l.lower, 'usr/bin'), { recursive: true });
  writeFileSync(join(l.lower, 'usr/bin/bash'), '');
  symlinkSync('usr/bin', join(l.lower, 'bin'));
  mkdirSync(join(l.upper, 'etc'));
  // Absolute: must mean the env's /usr/share/passwd, not the host's.
  mkdirSync(join(l.lower, 'usr/share'), { recursive: true });
  writeFileSync(join(l.lower, 'usr/share/passwd'), 'from-the-image:x:5:5::/:/bin/sh\n');
  symlinkSync('/usr/share/passwd', join(l.upper, 'etc/passwd'));
  t.is(readMergedFile([l.upper, l.lower], 'etc/passwd'), 'from-the-image:x:5:5::/:/bin/sh\n');
  t.truthy(resolveMerged([l.upper, l.lower], 'bin/bash'));
  const files = writeIdentityFiles(l.env, { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' });
  t.regex(readFileSync(files.passwd, 'utf8'), /alice:x:1000:1000:alice:\/home\/alice:\/bin\/bash\n$/);
  symlinkSync('../../../../../../../../etc/hostname', join(l.upper, 'etc/escape'));
  t.is(readMergedFile([l.upper, l.lower], 'etc/escape'), undefined, '.. stops at the merged root');
  symlinkSync('loop', join(l.upper, 'etc/loop'));
  t.is(readMergedFile([l.upper, l.lower], 'etc/loop'), undefined);
});

test('passwd and group get exactly one entry for the user; `first` keeps root for a uid-0 user', (t) => {
  const image = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n';
  t.is(passwdWithUser(image, { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' }, '/bin/sh'), image + 'alice:x:1000:1000:alice:/home/alice:/bin/sh\n');
  t.is(
    passwdWithUser(image, { uid: 0, gid: 0, name: 'alice', home: '/home/alice' }, '/bin/sh', { first: true }),
    'alice:x:0:0:alice:/home/alice:/bin/sh\n' + image,
  );
  t.is(groupWithUser('root:x:0:\n', { uid: 0, gid: 0, name: 'alice', home: '/' }), 'root:x:0:\n');
});

test('the generated files follow every change of what they were made from (cached between runs)', (t) => {
  const l = layers();
  const alice = { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' };
  const files = writeIdentityFiles(l.env, alice);
  t.regex(readFileSync(files.passwd, 'utf8'), /^daemon:/m);
  t.true(readFileSync(join(l.runtime, 'identity.json'), 'utf8').includes(join(l.lower, 'etc/passwd')));
  // A new passwd in the upper dir.
  mkdirSync(join(l.upper, 'etc'));
  writeFileSync(join(l.upper, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nworker:x:7:7::/:/bin/sh\n');
  writeIdentityFiles(l.env, alice);
  t.regex(readFileSync(files.passwd, 'utf8'), /^worker:/m);
  // Its content changed in place.
  writeFileSync(join(l.upper, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nother:x:8:8::/:/bin/sh\n');
  writeIdentityFiles(l.env, alice);
  t.regex(readFileSync(files.passwd, 'utf8'), /^other:/m);
  // Another user.
  writeIdentityFiles(l.env, { ...alice, name: 'bob' });
  t.regex(readFileSync(files.passwd, 'utf8'), /^bob:x:1000:/m);
  // bash appearing changes the shell.
  mkdirSync(join(l.upper, 'bin'));
  writeFileSync(join(l.upper, 'bin/bash'), '');
  writeIdentityFiles(l.env, alice);
  t.regex(readFileSync(files.passwd, 'utf8'), /alice:x:1000:1000:alice:\/home\/alice:\/bin\/bash\n$/);
  // The generated files themselves removed: written again.
  rmSync(files.group);
  writeIdentityFiles(l.env, alice);
  t.regex(readFileSync(files.group, 'utf8'), /daemon/);
});

(xattrOk ? test : test.skip)('an upper directory made opaque after a run is noticed (overlayfs recreates it)', (t) => {
  const l = layers();
  mkdirSync(join(l.upper, 'etc'));
  const files = writeIdentityFiles(l.env, { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' });
  t.regex(readFileSync(files.passwd, 'utf8'), /^daemon:/m);
  // What `rm -r /etc; mkdir /etc` inside does to the upper dir: a new, opaque directory.
  rmSync(join(l.upper, 'etc'), { recursive: true });
  mkdirSync(join(l.upper, 'etc'));
  writeXattr(join(l.upper, 'etc'), 'user.overlay.opaque', 'y');
  writeIdentityFiles(l.env, { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' });
  t.is(readFileSync(files.passwd, 'utf8'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n');
});

test('creating and removing entries in the upper dir (mount points) keeps the cache', (t) => {
  const l = layers();
  mkdirSync(join(l.upper, 'etc'));
  writeIdentityFiles(l.env, { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' });
  const cacheFile = join(l.env.paths.runtime, 'identity.json');
  const before = readFileSync(cacheFile, 'utf8');
  writeFileSync(join(l.upper, 'etc', 'resolv.conf'), '');
  rmSync(join(l.upper, 'etc', 'resolv.conf'));
  mkdirSync(join(l.upper, 'workspace'));
  rmSync(join(l.upper, 'workspace'), { recursive: true });
  writeIdentityFiles(l.env, { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' });
  // Nothing it read changed: the cache (what it saw) is the same, so nothing was regenerated.
  t.is(readFileSync(cacheFile, 'utf8'), before);
});
