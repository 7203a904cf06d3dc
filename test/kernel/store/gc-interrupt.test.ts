/**
 * gc stops safely on SIGINT and SIGTERM: a real `karapace gc` with plenty of garbage (slowed
 * per deletion through the test-only KARAPACE_TEST_DELAY_AT point) is signalled mid-run. It
 * must exit promptly, non-zero, saying so; the store must verify clean with every
 * environment and referenced layer intact; and a second gc must finish the job.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';

async function storeWithGarbage(t: { teardown(fn: () => void): void }): Promise<{ box: Sandbox; keepId: string; keepLayers: string[]; garbage: number }> {
  const box = sandbox('kp-gcsig-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('keep/karapace.toml', mockManifest({ packages: ['git'] }));
  box.write('other/karapace.toml', mockManifest({ packages: ['curl'] }));
  const keep = await box.json(['build', '--name', 'keep'], { cwd: join(box.dir, 'keep') });
  await box.run(['exec', 'keep', '--', 'sh', '-c', 'echo one > a']);
  await box.json(['commit', 'keep', '-m', 'one']);
  await box.run(['exec', 'keep', '--', 'sh', '-c', 'echo two > b']);
  await box.json(['commit', 'keep', '-m', 'two']);
  // A destroyed environment leaves snapshot layers and their objects behind.
  await box.json(['build', '--name', 'other'], { cwd: join(box.dir, 'other') });
  for (const n of [1, 2, 3]) {
    await box.run(['exec', 'other', '--', 'sh', '-c', `echo ${n} > f${n}`]);
    await box.json(['commit', 'other']);
  }
  await box.json(['destroy', 'other']);
  // And staging debris, as killed commands leave it.
  for (let i = 0; i < 30; i++) {
    const dir = join(box.store, 'store', 'staging', `build-junk-${i}`);
    mkdirSync(join(dir, 'upper', 'etc'), { recursive: true });
    writeFileSync(join(dir, 'upper', 'etc', 'file'), `junk ${i}\n`);
  }
  const snaps = await box.json(['snapshots', 'keep']);
  const dry = await box.json(['gc', '--dry-run']);
  return { box, keepId: keep.env_id, keepLayers: snaps.snapshots.map((s: any) => s.layer), garbage: dry.removed.length };
}

interface Signalled {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the signal to the exit. */
  afterSignalMs: number;
}

/** Starts `karapace gc`, waits until it is deleting, sends `sig`, and waits for it to end. */
function signalGc(box: Sandbox, sig: 'SIGINT' | 'SIGTERM', args: string[]): Promise<Signalled> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'gc', ...args], {
      cwd: box.dir,
      env: { ...box.env, KARAPACE_TEST_DELAY_AT: 'gc:removing:150' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    let sentAt = 0;
    const wal = join(box.store, 'store', 'wal');
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    // The gc WAL entry appears when deletion starts; let a few deletions happen, then signal.
    const poll = setInterval(() => {
      if (!existsSync(wal) || !readdirSync(wal).some((n) => n.startsWith('gc-'))) return;
      clearInterval(poll);
      setTimeout(() => {
        sentAt = Date.now();
        child.kill(sig);
      }, 500);
    }, 20);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, afterSignalMs: sentAt ? Date.now() - sentAt : -1 });
    });
  });
}

async function assertIntact(t: any, box: Sandbox, keepId: string, keepLayers: string[]): Promise<void> {
  const verify = await box.run(['verify-store', '--json']);
  t.is(verify.code, 0, verify.stdout + verify.stderr);
  const list = await box.json(['list']);
  t.deepEqual(list.environments.map((e: any) => e.env_id), [keepId], 'the environment survived');
  for (const layer of keepLayers) t.true(existsSync(join(box.store, 'store', 'layers', `${layer}.json`)), `referenced layer ${layer} kept`);
  // Its snapshots still restore.
  const restored = await box.run(['restore', 'keep', '1']);
  t.is(restored.code, 0, restored.stderr);
}

for (const [sig, expected] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  test(`gc stops on ${sig} between deletions and a second gc finishes`, async (t) => {
    const { box, keepId, keepLayers, garbage } = await storeWithGarbage(t);
    t.true(garbage >= 35, `enough garbage to interrupt (${garbage})`);
    const r = await signalGc(box, sig, sig === 'SIGTERM' ? ['--json'] : []);
    t.true(r.afterSignalMs >= 0, `the signal was sent (stderr: ${r.stderr})`);
    t.is(r.signal, null, 'it handled the signal instead of dying by it');
    t.is(r.code, expected, r.stderr);
    t.true(r.afterSignalMs < 2_000, `exited ${r.afterSignalMs} ms after ${sig}`);
    t.regex(r.stderr, new RegExp(`interrupted by ${sig}.*run \`karapace gc\` again to finish`));
    let removedFirst: number;
    if (sig === 'SIGTERM') {
      const report = JSON.parse(r.stdout);
      t.true(report.interrupted);
      t.is(report.signal, 'SIGTERM');
      t.true(report.remaining > 0);
      t.is(report.removed.length + report.remaining, garbage);
      removedFirst = report.removed.length;
    } else {
      t.regex(r.stdout, /interrupted: run gc again to finish/);
      removedFirst = (r.stdout.match(/^removed (layer|object|env|image|staging) /gm) ?? []).length;
    }
    t.true(removedFirst > 0 && removedFirst < garbage, `some but not all removed (${removedFirst} of ${garbage})`);
    t.false(readdirSync(join(box.store, 'store', 'wal')).some((n) => n.endsWith('.json')), 'no WAL entry left behind');

    await assertIntact(t, box, keepId, keepLayers);
    const second = await box.json(['gc']);
    t.false(second.interrupted);
    t.is(second.removed.length, garbage - removedFirst);
    t.is((await box.json(['gc', '--dry-run'])).removed.length, 0);
    await assertIntact(t, box, keepId, keepLayers);
  });
}
