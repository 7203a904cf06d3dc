/**
 * Mount points the sandbox creates (the workspace, the home directory, resolv.conf when the
 * image lacks them) are removed from the upper dir when the sandbox ends, so they never show
 * up in diffs or snapshots. Real CLI, busybox rootfs, as root and as an unprivileged user.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { buildEnv, identitiesUnavailable, identity, manifest, project, type Project } from './harness.js';

const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime-namespace mount point tests skipped: ${missing}`);

const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
});

interface Diff {
  added: string[];
  modified: string[];
  removed: string[];
}

for (const kind of ['root', 'user'] as const) {
  const t = missing ? test.skip : test;

  t(`${kind}: a plain exec with a workspace mount leaves nothing to diff`, async (tt) => {
    const p = project(identity(kind));
    projects.push(p);
    p.mkdir('ws');
    // /workspace and /srv/deep/ws are missing from the image: the launcher creates them.
    p.write('karapace.toml', manifest(busyboxRootfs(), '[mounts]\nws = "./ws:/workspace"\ndeep = "./ws:/srv/deep/ws:ro"\n'));
    const { shortId, envId } = await buildEnv(p);
    const upper = join(p.store, 'env', envId, 'upper');
    const run = await p.run(['exec', shortId, '--', 'sh', '-c', 'test -d /workspace && test -d /srv/deep/ws && test -d "$HOME"']);
    tt.is(run.code, 0, run.stderr);
    const diff = await p.run(['diff', shortId, '--json']);
    tt.is(diff.code, 0, diff.stderr);
    const d = JSON.parse(diff.stdout) as Diff;
    tt.deepEqual({ added: d.added, modified: d.modified, removed: d.removed }, { added: [], modified: [], removed: [] });
    tt.false(existsSync(join(upper, 'workspace')));
    tt.false(existsSync(join(upper, 'srv')));

    // A real write next to a mount point is still seen, and a non-empty mount point is kept.
    const write = await p.run(['exec', shortId, '--', 'sh', '-c', 'echo x > /srv/mine']);
    tt.is(write.code, 0, write.stderr);
    const after = JSON.parse((await p.run(['diff', shortId, '--json'])).stdout) as Diff;
    tt.deepEqual(after.added, ['srv', 'srv/mine']);
  });
}
