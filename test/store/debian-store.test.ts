/**
 * Storage on the real path (issue 18): a Debian bookworm minbase (mmdebstrap, cached) +
 * packages = ["hello"], built on the namespace backend through the CLI. One environment
 * serves every test in this file (they run in order).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine } from '@karapace/kernel';
import { sandbox, type Sandbox } from '../helpers/cli.js';
import { debianRootfsTarball, debianRootfsUnavailable } from '../helpers/debian-rootfs.js';

const probe = await createEngine({ cwd: process.cwd(), env: { ...process.env, KARAPACE_STORE: '/nonexistent-kp-probe' } });
const why = !probe.kernel.backends.includes('namespace')
  ? 'the "namespace" backend is not registered (@karapace/runtime-namespace not built)'
  : debianRootfsUnavailable();
if (why) console.error(`debian store tests skipped: ${why}`);
const serial = why ? test.skip : test.serial;

let box: Sandbox;
let envId = '';
let upper = '';

test.before(async () => {
  if (why) return;
  box = sandbox('kp-debian-store-');
  box.write('dev/karapace.toml', `manifest_version = 1
[base]
image = "${debianRootfsTarball()}"
[system]
packages = ["hello"]
[runtime]
backend = "namespace"
`);
  const built = await box.run(['build', '--name', 'dev', '--json'], { cwd: join(box.dir, 'dev'), timeoutMs: 600_000 });
  if (built.code !== 0) throw new Error(`build failed: ${built.stderr.split('\n').filter((l) => !l.startsWith('{"progress"')).join('\n')}`);
  envId = JSON.parse(built.stdout).env_id;
  upper = join(box.store, 'env', envId, 'upper');
});
test.after.always(() => {
  if (box) rmSync(box.dir, { recursive: true, force: true });
});

/** Paths under `dir` (relative) that are not overlay whiteouts (0/0 character devices). */
function realEntries(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(dir, r));
      if (st.isCharacterDevice() && st.rdev === 0) continue;
      out.push(r);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

serial('a build with packages leaves no package downloads or index in the upper dir', (t) => {
  // The install happened: hello's files are in the upper dir.
  t.true(lstatSync(join(upper, 'usr/bin/hello')).isFile());
  t.deepEqual(realEntries(join(upper, 'var/cache/apt/archives')).filter((p) => p.endsWith('.deb')), []);
  t.deepEqual(realEntries(join(upper, 'var/lib/apt/lists')), []);
  t.deepEqual(realEntries(join(upper, 'var/cache/apt')).filter((p) => p.endsWith('.bin')), []);
  const kib = Number(execFileSync('du', ['-sk', upper], { encoding: 'utf8' }).split('\t')[0]);
  t.log(`upper dir after the build: ${kib} KiB`);
  // hello and dpkg's bookkeeping are a few MiB; the lists alone were tens of MiB.
  t.true(kib < 8 * 1024, `upper dir is ${kib} KiB`);
});
