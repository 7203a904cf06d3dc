#!/usr/bin/env node
/**
 * Store benchmark (issues 3, 18): commit (pack, content objects + tree, durable) and restore
 * (tar from the tree, verified unpack) of a rootfs-sized tree — an extracted Debian bookworm
 * minbase — against the GNU floor doing the same work in the same run:
 *   commit floor:  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | tee FILE | b3sum; sync FILE
 *   restore floor: tar -xf FILE (each step from the same disk state, in alternating pairs)
 * and `karapace commit` of one new file on a real Debian environment (namespace backend,
 * packages = ["hello"], installed in its packages layer): time and store growth, against writing that file durably
 * (`cp FILE DIR; sync -f DIR`) and a `node -e 0` start. Medians of N runs (warm page
 * cache). Writes the "store" sections of bench/RESULTS.md.
 *
 *   node bench/store.mjs [--runs 5] [--dir /var/tmp/kp-bench] [--no-env | --env-only]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { packLayer, unpackLayer, storeLayout, digestTree } from '../kernel/dist/index.js';
import { hostDebianMirror } from '../plugins/image-sources/dist/host-sources.js';
import { writeSection } from './lib/results.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const RUNS = Number(opt('--runs', '5'));
const DIR = opt('--dir', '/var/tmp/kp-bench');
const REPO = fileURLToPath(new URL('../', import.meta.url));

function prepareTree() {
  const tarball = join(DIR, 'minbase.tar');
  const tree = join(DIR, 'tree');
  const marker = join(DIR, 'tree.complete');
  mkdirSync(DIR, { recursive: true });
  if (!existsSync(tarball)) {
    console.error(`building the minbase tarball with mmdebstrap (once; cached in ${DIR})`);
    // The host's own Debian archive (its apt sources), else mmdebstrap's default.
    const mirror = hostDebianMirror();
    execFileSync('mmdebstrap', ['--variant=minbase', 'bookworm', `${tarball}.tmp.tar`, ...(mirror ? [mirror] : [])], { stdio: 'inherit' });
    renameSync(`${tarball}.tmp.tar`, tarball);
  }
  if (!existsSync(marker)) {
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree);
    execFileSync('tar', ['-xf', tarball, '-C', tree, '--numeric-owner']);
    writeFileSync(marker, '');
  }
  return tree;
}

/** CPU seconds (user + system) of the main thread so far. */
function mainThreadCpu() {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Waits until the disk has had no requests in flight for 0.2 s (at most 10 s): what deletes left (discards) is done. */
function settleDisk() {
  const files = readdirSync('/sys/block').filter((d) => !/^(loop|zram|ram)/.test(d)).map((d) => `/sys/block/${d}/inflight`).filter((f) => existsSync(f));
  const busy = () => files.some((f) => readFileSync(f, 'utf8').trim().split(/\s+/).some((n) => n !== '0'));
  const end = Date.now() + 10_000;
  for (let quiet = 0; quiet < 4 && Date.now() < end;) {
    quiet = busy() ? 0 : quiet + 1;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  }
}

/** Runs `script` in bash; the CPU seconds (user + system) of what it ran, from bash's `times`. */
function shCpu(script) {
  const r = spawnSync('bash', ['-c', `${script}\ntimes`], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`failed: ${script}`);
  const secs = (t) => { const [, m, x] = /(\d+)m([\d.]+)s/.exec(t); return Number(m) * 60 + Number(x); };
  const [user, sys] = r.stdout.trim().split('\n').at(-1).split(/\s+/);
  return secs(user) + secs(sys);
}

function time(fn) {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return r instanceof Promise ? r.then(() => Number(process.hrtime.bigint() - t0) / 1e9) : Number(process.hrtime.bigint() - t0) / 1e9;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function sh(script) {
  const r = spawnSync('bash', ['-c', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`failed: ${script}`);
}

async function main() {
  if (args.includes('--env-only')) return oneFileCommit();
  const tree = prepareTree();
  const { entries, bytes } = await digestTree(tree);
  const floorFile = join(DIR, 'floor.tar');
  const layout = storeLayout(join(DIR, 'store'));
  const results = { commitFloor: [], commit: [], commitAgain: [], restoreFloor: [], restore: [], restoreSyncFloor: [], restoreSync: [] };
  // The 1-minute load average as each measurement starts (the machine is shared): reported next to each figure.
  const loads = Object.fromEntries(Object.keys(results).map((k) => [k, []]));
  const note = (key) => loads[key].push(loadavg()[0]);
  // CPU time of this (the main) thread: the work on the critical path when a second CPU is
  // free; less sensitive to other tenants than wall time.
  const mainCpu = { commit: [], restore: [] };
  // CPU seconds (user + system, every thread) of each restore and of its floor's tar: what
  // other tenants' load and the disk's moods change least.
  const restoreCpu = { restore: [], restoreFloor: [] };
  // The same for the commit and its floor (tar, tee, b3sum and sync): on 2 CPUs the wall
  // cannot fall below half of it, whichever thread does the work.
  const commitCpu = { commit: [], commitFloor: [] };
  let record;
  for (let i = 0; i < RUNS; i++) {
    // Each timed step starts after the deletes before it are on disk (sync): creating files
    // right after deleting thousands costs several times more on ext4, which would hit
    // only the side that creates many (ours; the floor writes one file).
    rmSync(floorFile, { force: true });
    sh('sync');
    note('commitFloor');
    results.commitFloor.push(time(() => commitCpu.commitFloor.push(shCpu(`cd ${tree} && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | tee ${floorFile} | b3sum >/dev/null; sync ${floorFile}`))));
    rmSync(layout.root, { recursive: true, force: true });
    sh('sync');
    note('commit');
    let cpu = mainThreadCpu();
    const all = process.cpuUsage();
    results.commit.push(await time(async () => { record = await packLayer(layout, tree, { kind: 'snapshot' }); }));
    mainCpu.commit.push(mainThreadCpu() - cpu);
    const used = process.cpuUsage(all);
    commitCpu.commit.push((used.user + used.system) / 1e6);
    // The same tree again: every content is in the store, only the tree is compared.
    note('commitAgain');
    results.commitAgain.push(await time(() => packLayer(layout, tree, { kind: 'snapshot', parent: record.hash })));

    // Restore against `tar -xf`, in pairs whose order alternates. Each timed step starts
    // from the same disk state on both sides (restoreStep): both outputs deleted, the
    // deletes on disk (sync), the disk idle, a fresh empty directory.
    const steps = {
      restoreFloor: (out) => restoreCpu.restoreFloor.push(shCpu(`tar -xf ${floorFile} -C ${out}`)),
      restore: async (out) => {
        const t0 = mainThreadCpu();
        const all = process.cpuUsage();
        await unpackLayer(layout, record.hash, out, { whiteouts: 'overlay' });
        const used = process.cpuUsage(all);
        restoreCpu.restore.push((used.user + used.system) / 1e6);
        mainCpu.restore.push(mainThreadCpu() - t0);
      },
      restoreSyncFloor: (out) => sh(`tar -xf ${floorFile} -C ${out} && sync -f ${out}`),
      // restoreEnv also makes the tree durable before its swap (syncfs).
      restoreSync: async (out) => {
        await unpackLayer(layout, record.hash, out, { whiteouts: 'overlay' });
        sh(`sync -f ${out}`);
      },
    };
    for (const [floor, ours] of [['restoreFloor', 'restore'], ['restoreSyncFloor', 'restoreSync']]) {
      for (const key of i % 2 === 0 ? [floor, ours] : [ours, floor]) await restoreStep(key, steps[key]);
    }
  }
  /** One timed restore into a fresh directory, after the same untimed preparation for every step. */
  async function restoreStep(key, run) {
    const out = join(DIR, 'out');
    rmSync(out, { recursive: true, force: true });
    sh('sync');
    settleDisk();
    mkdirSync(out);
    note(key);
    results[key].push(await time(() => run(out)));
  }
  const pairs = (floor, ours) => results[ours].map((x, k) => x / results[floor][k]);
  const spread = (xs) => `median ${median(xs).toFixed(2)}, ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  const restorePairs = pairs('restoreFloor', 'restore');
  const restoreSyncPairs = pairs('restoreSyncFloor', 'restoreSync');
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  const load = Object.fromEntries(Object.entries(loads).map(([k, v]) => [k, median(v).toFixed(1)]));
  const ratio = (a, b) => (a / b).toFixed(2);
  const cpus = (readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) ?? [])[1] ?? 'unknown cpu';
  const section = [
    '## store: commit and restore (bench/store.mjs)',
    '',
    `Tree: Debian bookworm minbase, ${entries} entries, ${(bytes / 1e6).toFixed(0)} MB of file content; layer tar ${(record.size / 1e6).toFixed(0)} MB, stored as a tree and ${record.added.objects - 1} content objects (${(record.added.bytes / 1e6).toFixed(0)} MB).`,
    `Median of ${RUNS} runs, warm page cache, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus}; load average at the end ${loadavg()[0].toFixed(1)} (figures from a busy shared machine are noisy: compare the raw runs).`,
    '',
    '| operation | karapace (load) | GNU floor (load) | ratio (goal ≤ 1.2) |',
    '|---|---|---|---|',
    `| commit into an empty store (tar of the dir, new contents into one pack file + tree, fsynced) | ${m.commit.toFixed(3)} s (${load.commit}) | ${m.commitFloor.toFixed(3)} s (${load.commitFloor}) (\`tar --sort=name … \\| tee FILE \\| b3sum; sync FILE\`) | ${ratio(m.commit, m.commitFloor)} |`,
    `| commit of the same tree again (every content present, hashes from the stat-fingerprint cache) | ${m.commitAgain.toFixed(3)} s (${load.commitAgain}) | ${m.commitFloor.toFixed(3)} s (${load.commitFloor}) | ${ratio(m.commitAgain, m.commitFloor)} |`,
    `| restore (natively from the tree, the tar it stands for hashed and checked, overlay whiteouts) | ${m.restore.toFixed(3)} s (${load.restore}) | ${m.restoreFloor.toFixed(3)} s (${load.restoreFloor}) (\`tar -xf FILE\`) | per pair ${spread(restorePairs)} |`,
    `| restore + syncfs (what \`karapace restore\` does before its swap) | ${m.restoreSync.toFixed(3)} s (${load.restoreSync}) | ${m.restoreSyncFloor.toFixed(3)} s (${load.restoreSyncFloor}) (\`tar -xf FILE; sync -f\`) | per pair ${spread(restoreSyncPairs)} |`,
    '',
    `Restore pairs (ours / floor, in run order; odd runs time ours first): restore=[${restorePairs.map((x) => x.toFixed(2)).join(', ')}]; restore+syncfs=[${restoreSyncPairs.map((x) => x.toFixed(2)).join(', ')}].`,
    '',
    `Restore CPU (s, user + system, all threads): ours=[${restoreCpu.restore.map((x) => x.toFixed(2)).join(', ')}], \`tar -xf\`=[${restoreCpu.restoreFloor.map((x) => x.toFixed(2)).join(', ')}]; per pair ${spread(restoreCpu.restore.map((x, k) => x / restoreCpu.restoreFloor[k]))}.`,
    '',
    `Raw (s): ${Object.entries(results).map(([k, v]) => `${k}=[${v.map((x) => x.toFixed(3)).join(', ')}]`).join('; ')}`,
    '',
    `Commit CPU (s, user + system, every thread): ours=[${commitCpu.commit.map((x) => x.toFixed(2)).join(', ')}] (median ${median(commitCpu.commit).toFixed(2)}), the floor's=[${commitCpu.commitFloor.map((x) => x.toFixed(2)).join(', ')}] (median ${median(commitCpu.commitFloor).toFixed(2)}).`,
    '',
    `Main-thread CPU (s, /proc/self/task): commit=[${mainCpu.commit.map((x) => x.toFixed(2)).join(', ')}] (median ${median(mainCpu.commit).toFixed(2)}); restore=[${mainCpu.restore.map((x) => x.toFixed(2)).join(', ')}] (median ${median(mainCpu.restore).toFixed(2)}). Objects are created on a write thread, and a restore's file contents are written by the native restore's threads (none of it on this thread), so on an idle machine the wall time tends to this main-thread time plus waits.`,
    '',
    "What a full-tree commit does beyond the floor (issue 18): its new contents go into one pack file (store/packs.ts: the objects concatenated in 4 MiB slabs written on a thread, then a sorted index; fsynced and renamed, as the floor syncs its one file), not one object file each (creating 6,250 files cost 25–250 µs each on this ext4, the most right after deletes, so each timed step here starts after a sync); beyond the floor's work it hashes each file (blake3: on the worker thread that walks and reads the tree, as it reads each file, layers/pack-tree-thread.ts, a tree of 2,000 entries or more, when the content cache knows nothing of the directory) besides the whole tar (the layer's identity, on the main thread), and re-encodes every header on the main thread to check the tree gives back the tar (kept although our own packer wrote the header: the check is what proves a tree entry stands for those exact bytes; where one cannot, the layer is stored as a tar). A commit of a tree the store already holds writes nothing and syncs nothing, and takes each unchanged file's hash from the stat-fingerprint cache (store/content-cache.ts), but still packs the whole upper dir and hashes the tar (its blake3 is the layer's identity). Restore makes no tar: native/untar-tree.c applies the tree's entries as the native unpacker applies a tar's, its main thread reading each file's object, hashing it into the blake3 of the tar the tree stands for, and handing the bytes to writer threads (store/tree-restore.ts); that hash, over exactly the bytes written, must be the layer's recorded tar hash, or the tar path takes over and names the damage. How restore is measured: `tar -xf` on this ext4 (mounted with `discard`) takes 0.3 s into a quiet disk and several times that right after a tree's delete, so every restore step, ours and the floor's alike, starts the same way, untimed: the previous output deleted, `sync`, the disk idle (no requests in flight in /sys/block/*/inflight for 0.2 s, at most 10 s), a fresh empty directory; floor and ours alternate which goes first in each run, and the ratio is taken per pair (each of ours over the floor run next to it), reported as the median and the range, next to the CPU time (user + system, every thread) of both sides, which other tenants' load and the disk change least. Loads in parentheses are the 1-minute load average as each measurement started (median over the runs), on 2 CPUs shared with other work.",
    '',
  ].join('\n');
  writeSection(join(REPO, 'bench/RESULTS.md'), 'store: commit and restore', section);
  console.log(section);
  rmSync(join(DIR, 'out'), { recursive: true, force: true });
  rmSync(layout.root, { recursive: true, force: true });
  rmSync(floorFile, { force: true });
  if (!args.includes('--no-env')) await oneFileCommit();
}

/** `karapace commit` of one new 1 MiB file on a Debian env with packages, through the CLI. */
async function oneFileCommit() {
  const bin = join(REPO, 'cli/dist/bundle/karapace.cjs');
  const root = join(DIR, 'env-bench');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'dev'), { recursive: true });
  const env = { ...process.env, KARAPACE_STORE: join(root, 'store'), XDG_CONFIG_HOME: join(root, 'config') };
  const cli = (argv) => {
    const r = spawnSync(process.execPath, [bin, ...argv, '--json'], { env, cwd: join(root, 'dev'), encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`karapace ${argv.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  writeFileSync(join(root, 'dev/karapace.toml'), `manifest_version = 1\n[base]\nimage = "${join(DIR, 'minbase.tar')}"\n[system]\npackages = ["hello"]\n[runtime]\nbackend = "namespace"\n`);
  const built = cli(['build', '--name', 'dev']);
  const upper = join(root, 'store/env', built.env_id, 'upper');
  const upperBytes = Number(execFileSync('du', ['-sb', upper], { encoding: 'utf8' }).split('\t')[0]);
  const meta = JSON.parse(readFileSync(join(root, 'store/store/metadata', `${built.env_id}.json`), 'utf8'));
  const layerBytes = meta.packages_layer ? Number(execFileSync('du', ['-sb', join(root, 'store/packages', meta.packages_layer, 'root')], { encoding: 'utf8' }).split('\t')[0]) : 0;
  const first = cli(['commit', 'dev']);
  const objects = join(root, 'store/store/objects');
  const storeBytes = () => Number(execFileSync('du', ['-sb', '--apparent-size', objects], { encoding: 'utf8' }).split('\t')[0]);
  const size = 1 << 20;
  const res = { commit: [], growth: [], tar: [], floor: [], node: [] };
  const loads = { commit: [], floor: [], node: [] };
  const scratch = join(DIR, 'floor-one');
  for (let i = 0; i < RUNS; i++) {
    const file = join(DIR, 'one-file');
    writeFileSync(file, execFileSync('head', ['-c', String(size), '/dev/urandom']));
    mkdirSync(join(upper, 'srv'), { recursive: true });
    execFileSync('cp', [file, join(upper, 'srv', `data-${i}`)]);
    const before = storeBytes();
    let c;
    loads.commit.push(loadavg()[0]);
    res.commit.push(time(() => { c = cli(['commit', 'dev']); }));
    res.growth.push(storeBytes() - before);
    res.tar.push(c.layer.size);
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch);
    loads.floor.push(loadavg()[0]);
    res.floor.push(time(() => sh(`cp ${file} ${scratch}/f && sync -f ${scratch}/f`)));
    loads.node.push(loadavg()[0]);
    res.node.push(time(() => sh(`${process.execPath} -e 0`)));
  }
  const m = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, median(v)]));
  const load = Object.fromEntries(Object.entries(loads).map(([k, v]) => [k, median(v).toFixed(1)]));
  // What the build's apt left in the upper dir before the adapters cleaned it: the same refresh and download again.
  const apt = ['apt-get', '-o', 'APT::Sandbox::User=root', '-q'];
  for (const argv of [[...apt, 'update'], [...apt, '-y', '--no-install-recommends', '--reinstall', '--download-only', 'install', 'hello']]) {
    const r = spawnSync(process.execPath, [bin, 'exec', 'dev', '--', ...argv], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  }
  const du = (p) => Number(execFileSync('du', ['-sb', p], { encoding: 'utf8' }).split('\t')[0]);
  const caches = du(join(upper, 'var/lib/apt/lists')) + du(join(upper, 'var/cache/apt'));
  const section = [
    '## store: one-file commit on a Debian environment (bench/store.mjs)',
    '',
    `A Debian bookworm minbase + packages = ["hello"] on the namespace backend: the install is the env's packages layer (${(layerBytes / 1e6).toFixed(1)} MB, package caches cleaned), the upper dir ${(upperBytes / 1e3).toFixed(1)} kB after the build, and the first commit stored ${first.added.bytes} bytes (an empty tree). Before the adapters cleaned up, the same build also left apt's lists and downloads in the upper dir: ${(caches / 1e6).toFixed(1)} MB, measured by running the build's refresh and download again. Then ${RUNS} times: one new ${size}-byte file in the upper dir, \`karapace commit\` (the executable: its commit fast path, bundle/snapshot.cjs with a V8 code cache). ${new Date().toISOString().slice(0, 10)}, load average at the end ${loadavg()[0].toFixed(1)}.`,
    '',
    '| | karapace | floor | ratio |',
    '|---|---|---|---|',
    `| store growth per commit | ${m.growth} bytes | ${size} bytes (the file) | ${(m.growth / size).toFixed(3)} (goal: ≤ file + 64 KiB) |`,
    `| what the same commit stored before trees (its layer tar, whole upper dir) | ${m.tar} bytes | ${size} bytes | ${(m.tar / size).toFixed(2)} |`,
    `| time of \`karapace commit\` (load) | ${m.commit.toFixed(3)} s (${load.commit}) | ${m.floor.toFixed(3)} s (${load.floor}) (\`cp FILE; sync -f\`) + ${m.node.toFixed(3)} s (${load.node}) (\`node -e 0\`) | ${(m.commit / (m.floor + m.node)).toFixed(2)} |`,
    `| the same beyond \`node -e 0\` | ${(m.commit - m.node).toFixed(3)} s | ${m.floor.toFixed(3)} s | goal ≤ 0.050 s + the file's write |`,
    '',
    `Raw: ${Object.entries(res).map(([k, v]) => `${k}=[${v.map((x) => (x < 100 ? x.toFixed(3) : x)).join(', ')}]`).join('; ')}`,
    '',
  ].join('\n');
  writeSection(join(REPO, 'bench/RESULTS.md'), 'store: one-file commit', section);
  console.log(section);
  spawnSync(process.execPath, [bin, 'destroy', 'dev'], { env, stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
}

await main();
