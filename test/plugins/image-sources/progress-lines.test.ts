/**
 * Progress from what the tools print: apt's status fd (recorded from apt 2.6 installing jq
 * into a bookworm minbase) and mmdebstrap's `I:` stage lines (recorded from mmdebstrap 1.3.5),
 * fed through the parsers, give increasing percents and stage k of n.
 */
import test from 'ava';
import { MMDEBSTRAP_STAGES, mmdebstrapStage, parseAptStatus } from '@karapace/image-sources';

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
