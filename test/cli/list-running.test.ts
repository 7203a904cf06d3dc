import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE, mockManifest, runBundled, sandbox, type Sandbox } from '../helpers/cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function states(box: Sandbox): Promise<Record<string, string>> {
  const r = await runBundled(box, ['list', '--json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return Object.fromEntries(JSON.parse(r.stdout).environments.map((e: { name: string; state: string }) => [e.name, e.state]));
}

/** `exec dev -- sleep 300` through the bundle; resolves with the CLI and the command's pid once it runs. */
async function startSleep(box: Sandbox, envId: string) {
  const cli = spawn(process.execPath, [BUNDLE, 'exec', 'dev', '--', 'sleep', '300'], { cwd: box.dir, env: { ...box.env, XDG_CACHE_HOME: join(box.dir, 'cache') }, stdio: 'ignore' });
  const pidFile = join(box.store, 'env', envId, 'runtime', 'mock.pid');
  // The mark follows the pid record (when the store has a running index).
  const mark = join(box.store, 'running', envId);
  const started = () => existsSync(pidFile) && (!existsSync(join(box.store, 'running')) || existsSync(mark));
  for (let i = 0; i < 2400 && !started(); i++) await sleep(50);
  return { cli, pid: Number(readFileSync(pidFile, 'utf8')) };
}

test('list: running envs come from the running index; a crashed run (stale pid record) shows stopped and loses its mark; a store from before the index is looked at whole', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest());
  const { env_id: envId } = await box.json(['build', '--name', 'dev']);
  box.write('other/karapace.toml', mockManifest({ packages: ['git'] }));
  await box.json(['build', '--name', 'other', 'other']);
  const marks = () => (existsSync(join(box.store, 'running')) ? readdirSync(join(box.store, 'running')) : undefined);
  t.deepEqual(await states(box), { dev: 'built', other: 'built' });
  t.deepEqual(marks(), [], 'the first list starts the index');

  const first = await startSleep(box, envId);
  t.teardown(() => { first.cli.kill('SIGKILL'); try { process.kill(first.pid, 'SIGKILL'); } catch {} });
  t.deepEqual(await states(box), { dev: 'running', other: 'built' });
  t.deepEqual(marks(), [envId]);

  // The CLI dies without cleaning up, then its command: the pid record names a dead process.
  first.cli.kill('SIGKILL');
  await new Promise((r) => first.cli.once('exit', r));
  process.kill(first.pid, 'SIGKILL');
  for (let i = 0; i < 200 && existsSync(`/proc/${first.pid}`); i++) await sleep(25);
  t.true(existsSync(join(box.store, 'env', envId, 'runtime', 'mock.pid')), 'the stale record stays');
  t.deepEqual(await states(box), { dev: 'built', other: 'built' });
  t.deepEqual(marks(), [], 'the stale mark went');

  // A store whose index is gone (from before it): what runs is found and marked again.
  const second = await startSleep(box, envId);
  t.teardown(() => { second.cli.kill('SIGKILL'); try { process.kill(second.pid, 'SIGKILL'); } catch {} });
  rmSync(join(box.store, 'running'), { recursive: true, force: true });
  t.deepEqual(await states(box), { dev: 'running', other: 'built' });
  t.deepEqual(marks(), [envId]);
  t.is((await box.run(['stop', 'dev', '--timeout', '1'])).code, 0);
  t.deepEqual(await states(box), { dev: 'built', other: 'built' });
  t.deepEqual(marks(), []);
});

test('destroy removes the environment\'s mark', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest());
  const { env_id: envId } = await box.json(['build', '--name', 'dev']);
  await states(box);
  const run = await startSleep(box, envId);
  t.teardown(() => { run.cli.kill('SIGKILL'); try { process.kill(run.pid, 'SIGKILL'); } catch {} });
  t.deepEqual(readdirSync(join(box.store, 'running')), [envId]);
  t.is((await box.run(['stop', 'dev', '--timeout', '1'])).code, 0);
  await new Promise((r) => (run.cli.exitCode !== null ? r(undefined) : run.cli.once('exit', r)));
  t.is((await box.run(['destroy', 'dev'])).code, 0);
  t.deepEqual(readdirSync(join(box.store, 'running')), []);
});
