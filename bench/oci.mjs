#!/usr/bin/env node
/**
 * `karapace exec ENV -- true` with the oci backend (runc), against floors run in the same
 * hyperfine invocation: `runc run` of the same bundle (config.json from the backend's own
 * buildConfig: overlay root, init, passwd/group, mounts) started directly, the same without
 * the init, and `node -e 0`. Environment: the busybox test rootfs, no packages. Writes the
 * "exec start-up: oci backend" section of bench/RESULTS.md.
 *
 *   node bench/oci.mjs [--runs N]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from './lib/results.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
// What `karapace` runs: the bundle when it has been built, else the plain tsc output.
const BIN = existsSync(join(REPO, 'cli/dist/bundle/karapace.js')) ? join(REPO, 'cli/dist/bundle/karapace.js') : join(REPO, 'cli/dist/bin.js');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 30;

for (const tool of ['hyperfine', 'runc']) {
  if (spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`], { stdio: 'ignore' }).status !== 0) {
    console.error(`bench/oci.mjs needs ${tool} (apt-get install ${tool})`);
    process.exit(1);
  }
}
const RUNC = spawnSync('sh', ['-c', 'command -v runc || echo /usr/sbin/runc'], { encoding: 'utf8' }).stdout.trim();

const rootfs = execFileSync(process.execPath, ['--import', 'tsx/esm', '-e',
  "const m = await import('./test/helpers/busybox-rootfs.ts'); console.log(m.busyboxRootfs())"], { cwd: REPO, encoding: 'utf8' }).trim();

const DIR = mkdtempSync(join(tmpdir(), 'kp-bench-oci-'));
const env = { ...process.env, KARAPACE_STORE: join(DIR, 'store'), XDG_CONFIG_HOME: join(DIR, 'config') };
writeFileSync(join(DIR, 'karapace.toml'), `manifest_version = 1\n[base]\nimage = ${JSON.stringify(rootfs)}\n[runtime]\nbackend = "oci"\n`);
writeFileSync(join(DIR, '.karapacerc.json'), JSON.stringify({ '@karapace/runtime-oci': { runtime: 'runc' } }));
const built = JSON.parse(execFileSync(process.execPath, [BIN, 'build', '--json'], { cwd: DIR, env, encoding: 'utf8' }));
const id = built.short_id;
const check = spawnSync(process.execPath, [BIN, 'exec', id, '--', 'true'], { cwd: DIR, env, encoding: 'utf8' });
if (check.status !== 0) {
  console.error(`karapace exec with the oci backend failed: ${check.stderr}`);
  process.exit(1);
}

// The same bundle the backend writes for this exec, built by its own code, over the env's
// upper/work dirs (so the runtime does the same overlay mount).
const { buildConfig } = await import(join(REPO, 'plugins/runtime-oci/dist/index.js'));
const { writeIdentityFiles, invokingUser } = await import(join(REPO, 'kernel/dist/index.js'));
const envDir = join(DIR, 'store/env', built.env_id);
const paths = { dir: envDir, upper: join(envDir, 'upper'), work: join(envDir, 'work'), runtime: join(envDir, 'runtime') };
const user = invokingUser();
const rootless = process.getuid?.() !== 0;
const handle = { shortId: id, name: undefined, lowerDirs: [rootfs], paths, manifest: { runtime: { backend: 'oci', network_isolation: false, resource_limits: {} }, mounts: {} } };
const identity = writeIdentityFiles(handle, rootless ? { ...user, uid: 0, gid: 0 } : user, { first: rootless });
function bundle(name, init) {
  const dir = join(DIR, name);
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  const request = { argv: ['true'], environment: { PATH: '/usr/bin:/bin', HOME: user.home }, user: 'invoker', tty: false, network: true, purpose: 'exec' };
  const config = buildConfig({ request, env: handle, rootfs: join(dir, 'rootfs'), user, rootless, mounts: [], devices: [], applyLimits: !rootless, identity, init });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}
const withInit = bundle('bundle-init', join(REPO, 'native/build/karapace-init'));
const noInit = bundle('bundle-noinit', undefined);
const state = join(DIR, 'runc-state');

const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const cmds = [
  ['node -e 0', `${q(process.execPath)} -e 0`],
  ['karapace exec ENV -- true (oci, runc)', `${q(process.execPath)} ${q(BIN)} exec ${id} -- true`],
  ['runc run (same bundle)', `${q(RUNC)} --root ${q(state)} run --bundle ${q(withInit)} kp-bench-${process.pid}`],
  ['runc run (same bundle, no init)', `${q(RUNC)} --root ${q(state)} run --bundle ${q(noInit)} kp-bench-${process.pid}`],
];
const out = join(DIR, 'hyperfine.json');
const load = loadavg();
const hf = spawnSync('hyperfine', ['-N', '--warmup', '3', '--runs', String(RUNS), '--export-json', out, ...cmds.flatMap(([name, cmd]) => ['-n', name, cmd])], { cwd: DIR, env, stdio: ['ignore', 'inherit', 'inherit'] });
if (hf.status !== 0) process.exit(hf.status ?? 1);
const results = JSON.parse(readFileSync(out, 'utf8')).results;
const byName = Object.fromEntries(results.map((r) => [r.command, r]));
const node = byName['node -e 0'].median;
const runc = byName['runc run (same bundle)'].median;
const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
const runcVersion = spawnSync(RUNC, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
const section = [
  '## exec start-up: oci backend (bench/oci.mjs)',
  '',
  `${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${runcVersion}, \`${BIN.slice(REPO.length)}\`, hyperfine -N, ${RUNS} runs after 3 warm-ups, medians; busybox rootfs, backend oci (runc), running as ${rootless ? 'an unprivileged user' : 'root'}.`,
  'Floors in the same invocation: `node -e 0`, and `runc run` of the same bundle (the config.json the backend builds, overlay root, init, passwd/group) started directly.',
  '',
  '| command | median | mean ± σ | vs `node -e 0` | vs `runc run` |',
  '|---|---|---|---|---|',
  ...results.map((r) => `| ${r.command} | ${ms(r.median)} | ${ms(r.mean)} ± ${ms(r.stddev ?? 0)} | ${(r.median / node).toFixed(2)}x | ${(r.median / runc).toFixed(2)}x |`),
  '',
  `Load average when the run started: ${load.map((l) => l.toFixed(1)).join(', ')} (1, 5, 15 min; a shared machine: compare ratios within one run only).`,
  '',
  `Reading: karapace exec = a Node start-up (the \`node -e 0\` floor) + a runc start (the \`runc run\` floor) + ${ms(byName['karapace exec ENV -- true (oci, runc)'].median - node - runc)}`,
  'of its own: loading and compiling the CLI and kernel (the same cost as in the namespace section), the',
  'stale-record check before each start (no runtime call when the env has no records), writing config.json',
  '(passwd/group are regenerated only when their sources changed), and waiting on runc.',
  'The two runc rows differ by what the init costs (a read-only bind on /dev, one exec, one fork): lost in the noise at this load.',
  '',
].join('\n');
writeSection(join(REPO, 'bench/RESULTS.md'), 'exec start-up: oci backend', section);
console.log(section);
spawnSync('chmod', ['-R', 'u+rwx', DIR]);
rmSync(DIR, { recursive: true, force: true });
