/**
 * Progress from what the tools print: apt's status fd (recorded from apt 2.6 installing jq
 * into a bookworm minbase), mmdebstrap's `I:` stage lines (recorded from mmdebstrap 1.3.5),
 * and the install outputs of dnf, zypper, pacman and apk (test/fixtures/package-managers,
 * its README says which were captured), fed through the parsers, give increasing percents
 * and stage k of n.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apk, apkProgress, dnfProgress, MMDEBSTRAP_STAGES, mmdebstrapStage, pacmanProgress, parseAptStatus, zypperProgress, type ProgressReader } from '@karapace/image-sources';

const FIXTURES = fileURLToPath(new URL('../../fixtures/package-managers/', import.meta.url));

/** Every line of a fixture through a fresh reader: the reported percents, with the stage's initial. */
function readAll(reader: ProgressReader, fixture: string): string[] {
  return readFileSync(join(FIXTURES, fixture), 'utf8').split('\n').map(reader).filter((p) => p !== undefined).map((p) => `${p!.percent}${p!.stage === 'downloading packages' ? 'd' : 'i'}`);
}

const APT = `Reading package lists...
dlstatus:1:0:Retrieving file 1 of 3
dlstatus:1:20.5:Retrieving file 1 of 3
Get:1 http://mirror.test/debian bookworm/main amd64 libonig5 amd64 6.9.8-1 [188 kB]
dlstatus:2:41.2:Retrieving file 2 of 3
dlstatus:3:100:Retrieving file 3 of 3
pmstatus:dpkg-exec:0:Running dpkg
pmstatus:libonig5:amd64:16.6667:Installing libonig5 (amd64)
Unpacking libonig5:amd64 (6.9.8-1) ...
pmstatus:jq:amd64:50:Installing jq (amd64)
pmstatus:jq:amd64:83.3333:Configuring jq (amd64)
pmstatus:dpkg-exec:100:Running dpkg
`;

test('apt status lines: downloading then installing, percents over the whole command never go back', (t) => {
  const seen = APT.split('\n').map(parseAptStatus).filter((p) => p !== undefined);
  t.deepEqual(seen.map((p) => p!.percent), [0, 10, 20, 50, 50, 58, 75, 91, 100]);
  t.deepEqual([...new Set(seen.map((p) => p!.stage))], ['downloading packages', 'installing packages']);
  t.is(parseAptStatus('Unpacking jq (1.6) ...'), undefined);
  t.is(parseAptStatus('pmstatus:x:not-a-number:y'), undefined);
  t.is(parseAptStatus('pmstatus:x:250:y')!.percent, 100);
});

const MMDEBSTRAP = `I: automatically chosen mode: root
I: chroot architecture amd64 is equal to the host's architecture
I: finding correct signed-by value...
I: running apt-get update...
I: downloading packages with apt...
I: extracting archives...
I: installing essential packages...
I: installing remaining packages inside the chroot...
I: cleaning package lists and apt cache...
I: creating tarball...
I: done
I: success in 41.2345 seconds
`;

test('mmdebstrap stderr: each known stage once, k of n in order; other lines start none', (t) => {
  let current = 0;
  const stages: string[] = [];
  for (const line of MMDEBSTRAP.split('\n')) {
    const s = mmdebstrapStage(line, current);
    if (!s) continue;
    t.true(s.index > current);
    current = s.index;
    stages.push(`${s.index}/${MMDEBSTRAP_STAGES.length} ${s.name}`);
  }
  t.deepEqual(stages, [
    '1/7 updating package lists', '2/7 downloading packages', '3/7 extracting archives', '4/7 installing essential packages',
    '5/7 installing remaining packages', '6/7 cleaning package lists', '7/7 creating tarball',
  ]);
  // A skipped stage is passed over, and a stage already passed does not restart.
  t.is(mmdebstrapStage('I: nothing to download -- skipping...', 1), undefined);
  t.is(mmdebstrapStage('I: running apt-get update...', 3), undefined);
  t.is(mmdebstrapStage('E: apt-get update failed'), undefined);
});

test('dnf 4 (captured): finished downloads fill the first half, the transaction steps the second; Preparing\'s 1/1 is no step', (t) => {
  t.deepEqual(readAll(dnfProgress(), 'dnf4-install.txt'), ['25d', '50d', '50i', '75i', '100i', '100i', '100i']);
  const read = dnfProgress();
  // Before `Running transaction` a transaction-looking line is not one (nor the summary's headers).
  t.is(read('  Installing       : jq-1.7.1-4.fc39.x86_64                                 2/2 '), undefined);
  t.is(read('Running transaction check'), undefined);
  t.is(read('Installing:'), undefined);
});

test('dnf 5: [k/n] downloads, then [k/n] transaction steps after `Running transaction`', (t) => {
  t.deepEqual(readAll(dnfProgress(), 'dnf5-install.txt'), ['25d', '50d', '50d', '50i', '62i', '75i', '87i', '100i']);
});

test('zypper (captured): fetching and installing alternate per package, both counted', (t) => {
  t.deepEqual(readAll(zypperProgress(), 'zypper-install.txt'), ['25d', '50i', '75d', '100i']);
  const read = zypperProgress();
  t.is(read('Retrieving: world-1.0-1.noarch.rpm [done]'), undefined);
  t.is(read('Checking for file conflicts: [......done]'), undefined);
  // The newer form, with the repository (parentheses in its name) before the count.
  t.deepEqual(read('Retrieving: jq-1.7.1-1.2.x86_64 (Main Repository (OSS)) (1/2),  53.2 KiB'), { percent: 25, stage: 'downloading packages' });
});

test('pacman (captured): fetches and installs counted against the transaction\'s package count', (t) => {
  t.deepEqual(readAll(pacmanProgress(), 'pacman-install.txt'), ['25d', '50d', '75i', '100i']);
  // Without the count first (a truncated output), nothing is guessed.
  const read = pacmanProgress();
  t.is(read('installing jq...'), undefined);
  t.is(read(' jq-1.7.1-1-x86_64 downloading...'), undefined);
  // Each install gets a fresh reader: counts do not carry over.
  const again = pacmanProgress();
  again('Packages (1) jq-1.7.1-1');
  t.deepEqual(again('installing jq...'), { percent: 100, stage: 'installing packages' });
});

test('apk: done/total records from --progress-fd, one fraction; they stay out of logs, its own lines do not', (t) => {
  t.deepEqual(readAll(apkProgress(), 'apk-install.txt'), ['0i', '32i', '65i', '100i']);
  const read = apkProgress();
  t.deepEqual(read('12/10'), { percent: 100, stage: 'installing packages' });
  t.deepEqual(read('3/0'), { percent: 0, stage: 'installing packages' });
  t.true(apk.install(['jq'], undefined, { offline: false }).join(' ').includes('--progress-fd 2'));
  t.true(apk.isProgressLine!('371/1136'));
  t.false(apk.isProgressLine!('(1/2) Installing oniguruma (6.9.9-r0)'));
});
