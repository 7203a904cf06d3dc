/**
 * The host's Debian archive for `bootstrap:debian/…` without a configured mirror: read from
 * apt's sources in both formats, pockets and disabled or commented entries skipped; on this
 * host it is one of the archives apt itself uses (`apt-get indextargets`), nothing written in.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapMirror, hostDebianMirror, mmdebstrapArgv, resolveOptions } from '@karapace/image-sources';

function etcApt(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kp-apt-'));
  mkdirSync(join(dir, 'sources.list.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('deb822 sources: the first archive entry, not the security archive or a disabled stanza', (t) => {
  const dir = etcApt({
    'sources.list.d/a-security.sources': 'Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\nComponents: main\n',
    'sources.list.d/b-off.sources': 'Enabled: no\nTypes: deb\nURIs: http://disabled.test/debian\nSuites: bookworm\nComponents: main\n',
    'sources.list.d/c-main.sources': '# a comment\nTypes: deb deb-src\nURIs:\n http://archive.test/debian/\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://second.test/debian\nSuites: trixie\n',
  });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.is(hostDebianMirror(dir), 'http://archive.test/debian');
});

test('one-line sources: options skipped, comments, deb-src, pockets and cdrom ignored; sources.list comes first', (t) => {
  const dir = etcApt({
    'sources.list': '# deb http://commented.test/debian bookworm main\ndeb-src http://src.test/debian bookworm main\ndeb cdrom:[Debian]/ bookworm main\ndeb http://pocket.test/debian bookworm-updates main\ndeb [arch=amd64 signed-by=/k.gpg] http://one.test/debian bookworm main\n',
    'sources.list.d/x.list': 'deb http://later.test/debian bookworm main\n',
  });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.is(hostDebianMirror(dir), 'http://one.test/debian');
});

test('no apt sources at all: no mirror, and mmdebstrap gets none (its own default)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-apt-none-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.is(hostDebianMirror(dir), undefined);
  t.deepEqual(mmdebstrapArgv('bookworm', '/o.tar', undefined, 'minbase'), ['mmdebstrap', '--variant=minbase', '--format=tar', 'bookworm', '/o.tar']);
});

test('Ubuntu without a configured mirror: none is passed (mmdebstrap picks the suite\'s archive), even on a Debian host', (t) => {
  const dir = etcApt({ 'sources.list': 'deb http://one.test/debian bookworm main\n' });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const options = resolveOptions({}, {});
  t.false('ubuntuMirror' in options);
  t.is(bootstrapMirror(options, 'ubuntu', dir), undefined);
  t.is(bootstrapMirror(options, 'debian', dir), 'http://one.test/debian');
  const configured = resolveOptions({ ubuntuMirror: 'http://ubuntu.test/ubuntu', mirror: 'http://debian.test/debian' }, {});
  t.is(bootstrapMirror(configured, 'ubuntu', dir), 'http://ubuntu.test/ubuntu');
  t.is(bootstrapMirror(configured, 'debian', dir), 'http://debian.test/debian');
  t.deepEqual(mmdebstrapArgv('noble', '/o.tar', bootstrapMirror(options, 'ubuntu', dir), 'minbase').slice(-2), ['noble', '/o.tar']);
});

const apt = spawnSync('apt-get', ['indextargets', '--format', '$(REPO_URI) $(RELEASE)'], { encoding: 'utf8' });
(apt.status === 0 && apt.stdout.trim() ? test : test.skip)('on this host: an archive apt itself uses for a release that is not a pocket', (t) => {
  const archives = apt.stdout.trim().split('\n').map((l) => l.split(' ')).filter(([, release]) => !/-(security|updates|backports)$/.test(release!)).map(([uri]) => uri!.replace(/\/+$/, ''));
  t.true(archives.includes(hostDebianMirror()!), `${hostDebianMirror()} not among ${archives.join(', ')}`);
});
