/**
 * Install progress on the real path: `build --json` of a real Debian env that installs a
 * package, through the namespace backend as an unprivileged user. apt's status fd reaches
 * the reporter as the install runs: the install task's percent events increase through
 * downloading and dpkg's work to 100, and no status record leaks into the log lines.
 */
import test from 'ava';
import { debianRootfsTarball, debianRootfsUnavailable } from '../../helpers/debian-rootfs.js';
import { identitiesUnavailable, identity, manifest, project, type Project } from './harness.js';

const missing = identitiesUnavailable() ?? debianRootfsUnavailable();
if (missing) console.warn(`install progress test skipped: ${missing}`);

const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
});

(missing ? test.skip : test)('build --json: the apt install reports increasing percents with its stages, from apt\'s status fd', async (t) => {
  const p = project(identity('user'), { '@karapace/runtime-namespace': { idMapping: 'single' } });
  projects.push(p);
  p.write('karapace.toml', manifest(debianRootfsTarball(), '[system]\npackages = ["hello"]\n'));
  const r = await p.run(['build', '--json']);
  t.is(r.code, 0, r.stderr);
  const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { progress?: Record<string, unknown> }).map((e) => e.progress).filter((e) => e !== undefined);
  const start = events.find((e) => e!.kind === 'start' && /installing 1 package\(s\) with apt/.test(String(e!.label)));
  t.truthy(start, JSON.stringify(events));
  const advances = events.filter((e) => e!.kind === 'advance' && e!.task === start!.task) as { done: number; total: number; stage?: string }[];
  const percents = advances.map((e) => e.done);
  t.true(percents.every((d, i) => i === 0 || d >= percents[i - 1]!), percents.join(' '));
  t.true(advances.every((e) => e.total === 100));
  // Status-fd records: somewhere inside dpkg's half, not only the step boundaries.
  t.true(percents.some((d) => d > 50 && d < 100), percents.join(' '));
  t.is(percents.at(-1), 100);
  const stages = [...new Set(advances.map((e) => e.stage))];
  t.deepEqual(stages.filter((s) => s !== 'updating package lists'), ['downloading packages', 'installing packages', 'cleaning caches'], stages.join(', '));
  t.false(events.some((e) => e!.kind === 'log' && /pmstatus:|dlstatus:/.test(String(e!.message))));
});
