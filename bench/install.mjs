#!/usr/bin/env node
/**
 * Installing Karapace the way users do, and what the installed CLI costs to start: every
 * workspace packed (`npm pack --workspaces`), the tarballs installed with
 * `npm install -g --prefix` into a fresh prefix (npm cache warm: the registry's packages
 * come from it), then `karapace exec ENV -- true` of the installed CLI against `node -e 0`
 * (the goal: ≤ 1.4x) and the repository's bundle, in one hyperfine invocation. Busybox
 * rootfs, namespace backend. Writes the "install" section of bench/RESULTS.md.
 *
 *   node bench/install.mjs [--runs N]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from './lib/results.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 20;
if (spawnSync('sh', ['-c', 'command -v hyperfine'], { stdio: 'ignore' }).status !== 0) {
  console.error('bench/install.mjs needs hyperfine (apt-get install hyperfine)');
  process.exit(1);
}

const rootfs = execFileSync(process.execPath, ['--import', 'tsx/esm', '-e',
  "const m = await import('./test/helpers/busybox-rootfs.ts'); console.log(m.busyboxRootfs())"], { cwd: REPO, encoding: 'utf8' }).trim();
const DIR = mkdtempSync(join(tmpdir(), 'kp-bench-install-'));
const cache = join(process.env.KARAPACE_TEST_CACHE ?? '/var/tmp/karapace-test-cache', 'npm-cache-bench');
const npmConfig = ['cafile', 'registry'].flatMap((k) => {
  const v = spawnSync('npm', ['config', 'get', k], { encoding: 'utf8' }).stdout.trim();
  return v && v !== 'null' && v !== 'undefined' ? [`--${k}=${v}`] : [];
});
const timed = (fn) => { const t = process.hrtime.bigint(); fn(); return Number(process.hrtime.bigint() - t) / 1e9; };

let tarballs;
mkdirSync(join(DIR, 'pack'), { recursive: true });
const packS = timed(() => {
  const r = spawnSync('npm', ['pack', '--workspaces', '--pack-destination', join(DIR, 'pack'), '--json'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  tarballs = JSON.parse(r.stdout).map((p) => join(DIR, 'pack', p.filename.replace(/.*\//, '')));
});
const install = (prefix) => {
  const r = spawnSync('npm', ['install', '-g', '--prefix', prefix, `--cache=${cache}`, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...npmConfig, ...tarballs], { cwd: DIR, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
};
install(join(DIR, 'warm-cache-prefix')); // fills the npm cache
const installS = timed(() => install(join(DIR, 'prefix')));
const KARAPACE = join(DIR, 'prefix/bin/karapace');

const env = { ...process.env, KARAPACE_STORE: join(DIR, 'store'), XDG_CONFIG_HOME: join(DIR, 'config'), XDG_CACHE_HOME: join(DIR, 'cache') };
writeFileSync(join(DIR, 'karapace.toml'), `manifest_version = 1\n[base]\nimage = ${JSON.stringify(rootfs)}\n[runtime]\nbackend = "namespace"\n`);
const id = JSON.parse(execFileSync(KARAPACE, ['build', '--json'], { cwd: DIR, env, encoding: 'utf8' })).short_id;

// The installed command is the native front door: its plan is written by the Node runs it
// hands the first execs to (the first sandbox also makes the upper dir's mount points).
for (let i = 0; i < 3; i++) execFileSync(KARAPACE, ['exec', id, '--', 'true'], { cwd: DIR, env });
const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const cmds = [
  ['node -e 0', `${q(process.execPath)} -e 0`],
  ['installed: karapace exec ENV -- true', `${q(KARAPACE)} exec ${id} -- true`],
  ['installed, front door disabled: env KARAPACE_FRONT_DOOR=0 karapace exec ENV -- true', `env KARAPACE_FRONT_DOOR=0 ${q(KARAPACE)} exec ${id} -- true`],
  ['repository: cli/dist/bundle/karapace.cjs exec ENV -- true', `${q(process.execPath)} ${q(join(REPO, 'cli/dist/bundle/karapace.cjs'))} exec ${id} -- true`],
  ['installed: karapace --version', `${q(KARAPACE)} --version`],
];
const out = join(DIR, 'hyperfine.json');
const load = loadavg()[0];
const hf = spawnSync('hyperfine', ['-N', '--warmup', '3', '--runs', String(RUNS), '--export-json', out, ...cmds.flatMap(([name, cmd]) => ['-n', name, cmd])], { cwd: DIR, env, stdio: ['ignore', 'inherit', 'inherit'] });
if (hf.status !== 0) process.exit(hf.status ?? 1);
const results = JSON.parse(readFileSync(out, 'utf8')).results;
const floor = results.find((r) => r.command === 'node -e 0').median;
const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
const section = [
  '## install: tarballs → working CLI, and its exec start-up (bench/install.mjs)',
  '',
  `${new Date().toISOString().slice(0, 10)}, node ${process.version}, npm ${spawnSync('npm', ['-v'], { encoding: 'utf8' }).stdout.trim()}, ${tarballs.length} tarballs, running as ${process.getuid?.() === 0 ? 'root' : 'an unprivileged user'}.`,
  '',
  '| step | wall time |',
  '|---|---|',
  `| npm pack --workspaces (prebuilt native binaries up to date) | ${packS.toFixed(1)} s |`,
  `| npm install -g --prefix P <tarballs> (npm cache warm) | ${installS.toFixed(1)} s |`,
  '',
  `Exec start-up, hyperfine -N, ${RUNS} runs after 3 warm-ups, medians; busybox rootfs, namespace backend.`,
  'Floor: `node -e 0` in the same invocation. Goal: the installed `karapace exec ENV -- true` ≤ 1.4x the floor.',
  '',
  '| command | median | mean ± σ | vs `node -e 0` |',
  '|---|---|---|---|',
  ...results.map((r) => `| ${r.command} | ${ms(r.median)} | ${ms(r.mean)} ± ${ms(r.stddev ?? 0)} | ${(r.median / floor).toFixed(2)}x |`),
  '',
  `Load average when the run started: ${load.toFixed(1)} (a shared machine: compare ratios within one run only).`,
  '',
  'Reading: the installed `karapace` is the native front door (@karapace/native\'s prebuilt',
  'karapace-front-door, put at the CLI\'s bin by its install script): a fresh exec runs from the plan',
  'the Node path wrote, without starting Node. With `KARAPACE_FRONT_DOOR=0` it hands every command to',
  'the same bundle as the repository\'s (one more exec than the repository row). The install time is dominated by npm resolving and copying the third-party',
  'dependencies each top-level package of a global install gets its own copy of.',
  '',
].join('\n');
writeSection(join(REPO, 'bench/RESULTS.md'), 'install', section);
console.log(section);
rmSync(DIR, { recursive: true, force: true });
