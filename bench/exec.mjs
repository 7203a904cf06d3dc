#!/usr/bin/env node
/**
 * `karapace --store S exec ENV -- true` as users run it, on a Debian minbase environment
 * (namespace backend), as root and as an unprivileged user with subordinate id ranges
 * (kp-bench, created when missing), each in one hyperfine invocation with its floors:
 * `node -e 0`, bwrap into the same rootfs, `runc run` of a fresh container (rootless for the
 * user), an `unshare … chroot` reference and the bare launcher with the argv karapace
 * builds. Writes the "exec start-up: namespace" section of bench/RESULTS.md.
 *
 *   node bench/exec.mjs [--runs N] [--priority] [--baseline DIR]
 *
 * Needs root (it switches to kp-bench with runuser), hyperfine, bwrap, runc, mmdebstrap (the
 * Debian rootfs is built once and cached, test/helpers/debian-rootfs.ts). `--priority` runs
 * the measurements in their own session with nice -20 (autogroup too): on a machine shared
 * with other work, this keeps the floors and karapace equally shielded from the load.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from './lib/results.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'cli/dist/bundle/karapace.cjs');
/** The installed `karapace` executable: the native front door (it hands anything else to BIN). */
const FRONT_DOOR = join(REPO, 'native/build/karapace-front-door');
const LAUNCHER = join(REPO, 'native/build/karapace-sandbox');
const arg = (name) => process.argv.indexOf(name);
const RUNS = arg('--runs') > 0 ? Number(process.argv[arg('--runs') + 1]) : 30;
const PRIORITY = arg('--priority') > 0;
/** `--baseline DIR`: another checkout's build measured in the same invocation (before/after). */
const BASELINE = arg('--baseline') > 0 ? process.argv[arg('--baseline') + 1] : undefined;
const USER = 'kp-bench';
// Extra CA certificates are parsed by every Node start (the floor too): on a machine that
// sets them they dominate `node -e 0` and hide what karapace itself costs.
const EXTRA_CA = process.env.NODE_EXTRA_CA_CERTS !== undefined;
delete process.env.NODE_EXTRA_CA_CERTS;
const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

function need(tool, pkg = tool) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) {
    console.error(`bench/exec.mjs needs ${tool} (apt-get install ${pkg})`);
    process.exit(1);
  }
}
if (process.getuid() !== 0) {
  console.error('bench/exec.mjs runs as root: it measures as root and as an unprivileged user it creates');
  process.exit(1);
}
for (const [tool, pkg] of [['hyperfine'], ['bwrap', 'bubblewrap'], ['runc'], ['unshare', 'util-linux'], ['runuser', 'util-linux'], ['newuidmap', 'uidmap']]) need(tool, pkg);
if (!existsSync(BIN) || !existsSync(FRONT_DOOR)) {
  console.error('build first: npm run build');
  process.exit(1);
}

/** The bench user, with subordinate ranges that overlap no one's (useradd adds them on Debian). */
function benchUser() {
  if (spawnSync('id', [USER], { stdio: 'ignore' }).status !== 0) execFileSync('useradd', ['-m', USER]);
  const [uid, gid] = execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim().split('\n').concat(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.some((l) => l.startsWith(`${USER}:`))) continue;
    const end = Math.max(100000, ...lines.map((l) => Number(l.split(':')[1]) + Number(l.split(':')[2])).filter(Number.isFinite));
    writeFileSync(file, [...lines, `${USER}:${end}:65536`].join('\n') + '\n');
  }
  return { uid: Number(uid), gid: Number(gid), home: `/home/${USER}` };
}

const tarball = execFileSync(process.execPath, ['--import', 'tsx/esm', '-e',
  "const m = await import('./test/helpers/debian-rootfs.ts'); console.log(m.debianRootfsTarball())"], { cwd: REPO, encoding: 'utf8' }).trim();
const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const ms = (s) => `${(s * 1000).toFixed(1)} ms`;

/** Builds the env as `who` and measures; returns hyperfine's results. */
function measure(who) {
  const dir = mkdtempSync('/tmp/kp-bench-exec-');
  chmodSync(dir, 0o755);
  const store = join(dir, 'store');
  const runtime = join(dir, 'xdg');
  mkdirSync(runtime);
  writeFileSync(join(dir, 'karapace.toml'), 'manifest_version = 1\n[base]\nimage = "./debian.tar"\n[runtime]\nbackend = "namespace"\n');
  execFileSync('cp', [tarball, join(dir, 'debian.tar')]);
  const env = { PATH, HOME: who ? who.home : '/root', LANG: 'C.UTF-8', XDG_RUNTIME_DIR: runtime, XDG_CACHE_HOME: join(dir, 'cache'), XDG_CONFIG_HOME: join(dir, 'config'), KARAPACE_FRONT_DOOR_CLI: BIN };
  if (who) execFileSync('chown', ['-R', `${who.uid}:${who.gid}`, dir]);
  const as = (argv) => (who ? ['runuser', '-u', USER, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv] : ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv]);
  const run = (argv, extra = {}) => {
    const [cmd, ...rest] = as(argv);
    return spawnSync(cmd, rest, { cwd: dir, encoding: 'utf8', ...extra });
  };
  const built = run([process.execPath, BIN, '--store', store, 'build', '--name', 'deb', '--json']);
  if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  // The launcher argv karapace uses for this exec, from its trace log.
  const trace = run(['KARAPACE_LOG=trace', process.execPath, BIN, '--store', store, 'exec', 'deb', '--', 'true']);
  const line = trace.stderr.split('\n').find((l) => l.includes('karapace-sandbox --lower'));
  const launcherArgs = line ? line.slice(line.indexOf('karapace-sandbox ') + 'karapace-sandbox '.length) : undefined;
  // The front door's plan: written by the Node runs it hands over to (the first sandbox also
  // makes the upper dir's mount points, so the second run writes it again).
  for (let i = 0; i < 3; i++) run([FRONT_DOOR, '--store', store, 'exec', 'deb', '--', 'true']);
  const rootfs = join(store, 'images', readdirSync(join(store, 'images'))[0], 'rootfs');
  // runc: a fresh container per run, the user's own id mapped when rootless (runc spec --rootless).
  const bundle = join(dir, 'runc');
  mkdirSync(bundle);
  if (who) chownSync(bundle, who.uid, who.gid);
  run(['runc', 'spec', ...(who ? ['--rootless'] : [])], { cwd: bundle });
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  Object.assign(config, { root: { path: rootfs, readonly: true } });
  Object.assign(config.process, { args: ['/bin/true'], terminal: false });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  // Host integration on (issue 16): an ssh-agent, a session bus and a Wayland socket the host
  // has, so exec/enter bind all three and pass their variables. Listening sockets stay while
  // hyperfine runs (nothing connects: they are only bound).
  const session = integrationSockets(runtime, who);
  const withSession = `env ${Object.entries(session).map(([k, v]) => q(`${k}=${v}`)).join(' ')}`;
  // The front door's plans for the integration rows, written by the Node runs it hands over
  // to; then one more run says whether it runs them itself (else the row measures Node).
  const frontDoorRuns = {};
  for (const verb of [['exec', 'deb', '--', 'true'], ['enter', 'deb', 'true']]) {
    const argv = ['env', ...Object.entries(session).map(([k, v]) => `${k}=${v}`), FRONT_DOOR, '--store', store, ...verb];
    for (let i = 0; i < 3; i++) run(argv);
    const check = run(['env', 'KARAPACE_FRONT_DOOR_DEBUG=1', ...argv]);
    const why = /handing over to Node: (.*)/.exec(check.stderr ?? '')?.[1];
    frontDoorRuns[verb[0]] = why ? `hands over to Node (${why})` : 'runs from its plan';
  }
  const cmds = [
    ['node -e 0', `${q(process.execPath)} -e 0`],
    ['karapace --store S exec ENV -- true (native front door)', `${q(FRONT_DOOR)} --store ${q(store)} exec deb -- true`],
    ['karapace exec through Node (front door disabled)', `${q(process.execPath)} ${q(BIN)} --store ${q(store)} exec deb -- true`],
    ['env + host integration (ssh-agent, D-Bus, Wayland): karapace exec through Node', `${withSession} ${q(process.execPath)} ${q(BIN)} --store ${q(store)} exec deb -- true`],
    ['env + host integration: karapace enter ENV true through Node (no terminal)', `${withSession} ${q(process.execPath)} ${q(BIN)} --store ${q(store)} enter deb true`],
    ['env + host integration: karapace exec (native front door)', `${withSession} ${q(FRONT_DOOR)} --store ${q(store)} exec deb -- true`],
    ['env + host integration: karapace enter ENV true (native front door)', `${withSession} ${q(FRONT_DOOR)} --store ${q(store)} enter deb true`],
    ...(BASELINE ? [['baseline: karapace --store S exec ENV -- true', `${q(process.execPath)} ${q(join(BASELINE, 'cli/dist/bundle/karapace.cjs'))} --store ${q(store)} exec deb -- true`]] : []),
    ...(launcherArgs && !/'/.test(launcherArgs) ? [['karapace-sandbox (same argv)', `${q(LAUNCHER)} ${launcherArgs}`]] : []),
    [`runc run${who ? ' (rootless)' : ''}, fresh container`, `runc --root ${q(join(runtime, 'runc'))} run -b ${q(bundle)} kp-bench`],
    ['bwrap (same rootfs)', `bwrap --unshare-all --share-net --ro-bind ${q(rootfs)} / --proc /proc --dev /dev -- /bin/true`],
    ['unshare … chroot', `unshare --user --map-root-user --mount --pid --fork --uts --ipc chroot ${q(rootfs)} /bin/true`],
  ];
  const out = join(dir, 'hyperfine.json');
  const hyperfine = ['hyperfine', '-N', '--warmup', '3', '--runs', String(RUNS), '--export-json', out, ...cmds.flatMap(([name, cmd]) => ['-n', name, cmd])];
  const wrapped = PRIORITY ? ['setsid', 'sh', '-c', 'echo -20 > /proc/self/autogroup; exec nice -n -20 "$@"', 'prio', ...as(hyperfine)] : as(hyperfine);
  const load = loadavg()[0];
  const hf = spawnSync(wrapped[0], wrapped.slice(1), { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (hf.status !== 0) throw new Error(`hyperfine failed (${hf.status})`);
  const loadAfter = loadavg()[0];
  const results = JSON.parse(readFileSync(out, 'utf8')).results;
  rmSync(dir, { recursive: true, force: true });
  return { results, load, loadAfter, frontDoorRuns };
}

/** Listening sockets for an ssh-agent, a session bus and a Wayland display, owned by `who`; their variables. */
function integrationSockets(runtime, who) {
  const paths = { ssh: join(runtime, 'ssh-agent.sock'), bus: join(runtime, 'bus'), wayland: join(runtime, 'wayland-bench') };
  for (const path of Object.values(paths)) {
    const server = createServer().listen(path);
    server.unref();
  }
  // listen() binds synchronously enough for a socket file to exist once the loop turns; wait for them.
  const deadline = Date.now() + 5000;
  while (Object.values(paths).some((p) => !existsSync(p)) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
  if (who) for (const path of Object.values(paths)) if (existsSync(path)) chownSync(path, who.uid, who.gid);
  return { SSH_AUTH_SOCK: paths.ssh, DBUS_SESSION_BUS_ADDRESS: `unix:path=${paths.bus}`, WAYLAND_DISPLAY: 'wayland-bench' };
}

const user = benchUser();
const sections = [];
for (const [label, who] of [['root', undefined], [`an unprivileged user with subordinate ids (${USER}, full id mapping)`, user]]) {
  const { results, load, loadAfter, frontDoorRuns } = measure(who);
  const floor = results.find((r) => r.command === 'node -e 0').median;
  sections.push(
    `As ${label}; load average ${load.toFixed(1)} when the run started, ${loadAfter.toFixed(1)} when it ended. With host integration on, the front door's exec ${frontDoorRuns.exec}, its enter ${frontDoorRuns.enter}.`,
    '',
    '| command | median | mean ± σ | vs `node -e 0` |',
    '|---|---|---|---|',
    ...results.map((r) => `| ${r.command} | ${ms(r.median)} | ${ms(r.mean)} ± ${ms(r.stddev ?? 0)} | ${(r.median / floor).toFixed(2)}x |`),
    '',
  );
}
const section = [
  '## exec start-up: namespace backend (bench/exec.mjs)',
  '',
  `${new Date().toISOString().slice(0, 10)}, node ${process.version}, hyperfine -N, ${RUNS} runs after 3 warm-ups, medians${PRIORITY ? ', run with --priority (own session, nice -20)' : ''}; Debian bookworm minbase env, namespace backend, \`--store\` before the command.`,
  'Floors in the same invocation: `node -e 0`, runc, bwrap and an `unshare … chroot` into the same rootfs. Goals (issue 19): karapace at most runc\'s time; through Node at most 1.3x `node -e 0` rootless.' + (EXTRA_CA ? ' NODE_EXTRA_CA_CERTS, set on this machine, was unset for every command (floors included): every Node start parses those certificates.' : ''),
  '',
  ...sections,
  'Reading: `karapace` is the installed executable, the native front door (native/front-door.c): it checks the exec',
  'plan the Node path wrote (every input it consulted, by stat fingerprint) and runs the launcher itself. The row',
  '"through Node" is the CLI bundle run directly, what `KARAPACE_FRONT_DOOR=0` (or a stale plan) costs, minus the',
  'front door\'s own exec of node. The sandbox itself (karapace-sandbox with the argv karapace builds) costs about',
  'what bwrap does; the full id mapping adds the two setuid helpers newuidmap/newgidmap (run side by side).',
  '`baseline` rows are another build measured in the same run (`--baseline`).',
  'Rows starting `env + host integration` run under env(1) with an ssh-agent, a session bus and a Wayland socket',
  'in the environment, so exec/enter bind all three and pass their variables (issue 16\'s goal: at most 1.4x',
  '`node -e 0`); `enter ENV true` runs without a terminal here (no pty relay), so it measures enter\'s start-up path,',
  'through Node and through the front door (which runs enter from its plan as it does exec).',
  '',
  'Compare ratios within one table only (a shared machine).',
  '',
].join('\n');
writeSection(join(REPO, 'bench/RESULTS.md'), 'exec start-up: namespace', section);
console.log(section);
