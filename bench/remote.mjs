#!/usr/bin/env node
/**
 * Remote transfer benchmark: push and pull of a ~200 MB environment (mock backend) to a
 * karapace-server on 127.0.0.1, against a floor measured in the same invocation: `curl`
 * uploading/downloading the same number of bytes to/from the same server. Then a second
 * push after one file changed, and a push of a second environment with the same base and
 * the same files: bytes uploaded and time against curl uploading those bytes. Each run
 * does all of it with bundle v3 (trees and content objects, the default) and with tar
 * bundles (plugin option `bundle: "tars"`), alternating. Writes the "Remote push/pull"
 * section of bench/RESULTS.md. Goal: ratio ≤ 1.5.
 *
 *   node bench/remote.mjs [--mb 200] [--runs 3]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, createReadStream, createWriteStream, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { writeSection } from './lib/results.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
// The shipped CLI is the bundle (`npm run build`); the tsc output is the fallback.
const BIN = existsSync(join(REPO, 'cli/dist/bundle/karapace.cjs')) ? join(REPO, 'cli/dist/bundle/karapace.cjs') : join(REPO, 'cli/dist/bin.js');
const SERVER = join(REPO, 'plugins/remote-http/dist/server/bin.js');
const { values } = parseArgs({ options: { mb: { type: 'string', default: '200' }, runs: { type: 'string', default: '3' } } });
const MB = Number(values.mb);
const RUNS = Number(values.runs);
const TOKEN = 'bench-token-0123456789';
const require = createRequire(join(REPO, 'kernel/package.json'));
const { Blake3Hasher } = require('@napi-rs/blake-hash');

const load = loadavg()[0];
const work = mkdtempSync(join(tmpdir(), 'kp-bench-remote-'));
const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', XDG_CONFIG_HOME: join(work, 'cfg'), KARAPACE_REMOTE_TOKEN: TOKEN };
mkdirSync(env.XDG_CONFIG_HOME, { recursive: true });

// Commands run here push tar bundles (v1/v2); elsewhere bundle v3.
const tarsDir = join(work, 'tars');
mkdirSync(tarsDir);
writeFileSync(join(tarsDir, '.karapacerc.json'), JSON.stringify({ '@karapace/remote-http': { bundle: 'tars' } }));

function karapace(store, args, cwd = work) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...env, KARAPACE_STORE: store }, cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`karapace ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function startServer(dir) {
  writeFileSync(join(work, 'tokens.json'), JSON.stringify({ tokens: [{ name: 'bench', token: TOKEN, scopes: ['read', 'write'] }] }));
  const child = spawn(process.execPath, [SERVER, '--dir', dir, '--port', '0', '--tokens', join(work, 'tokens.json'), '--log', join(work, 'server.log')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (c) => { out += c; const m = /listening on (\S+)/.exec(out); if (m) resolve(m[1]); });
  });
  return { url, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
}

const time = (fn) => { const t0 = process.hrtime.bigint(); fn(); return Number(process.hrtime.bigint() - t0) / 1e9; };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// 1. A ~MB-sized environment: mock build, then random files written inside it.
const src = join(work, 'src-store');
mkdirSync(join(work, 'proj'));
writeFileSync(join(work, 'proj/karapace.toml'), 'manifest_version = 1\n[base]\nimage = "mock:bench"\n[system]\npackages = ["git"]\n[runtime]\nbackend = "mock"\n');
karapace(src, ['build', join(work, 'proj'), '--name', 'bench']);
karapace(src, ['exec', 'bench', '--', 'sh', '-c', `mkdir -p data && for i in $(seq 1 ${Math.ceil(MB / 10)}); do head -c 10485760 /dev/urandom > data/f$i; done`]);
// A second environment on the same base (other packages) with the same files: copied from the first's upper dir.
mkdirSync(join(work, 'proj2'));
writeFileSync(join(work, 'proj2/karapace.toml'), 'manifest_version = 1\n[base]\nimage = "mock:bench"\n[system]\npackages = ["make"]\n[runtime]\nbackend = "mock"\n');
karapace(src, ['build', join(work, 'proj2'), '--name', 'bench2']);
const upperOf = (name) => karapace(src, ['exec', name, '--', 'pwd']).trim();
// Many small files (what a package install leaves): one request per file would dominate.
mkdirSync(join(work, 'proj3'));
writeFileSync(join(work, 'proj3/karapace.toml'), 'manifest_version = 1\n[base]\nimage = "mock:bench"\n[system]\npackages = ["curl"]\n[runtime]\nbackend = "mock"\n');
karapace(src, ['build', join(work, 'proj3'), '--name', 'small']);
karapace(src, ['exec', 'small', '--', 'sh', '-c', 'mkdir -p d && i=0; while [ $i -lt 5000 ]; do echo "file $i $$" > d/f$i; i=$((i+1)); done']);
karapace(src, ['exec', 'bench2', '--', 'cp', '-r', join(upperOf('bench'), 'data'), 'data']);
// Files changed in the last 2 s are "racy" for push's fingerprint cache (their hash is not
// trusted); waiting once makes every timed push the same case: the upper dir's hash known
// from the probe push below, the tree re-packed straight into the upload.
await new Promise((r) => setTimeout(r, 2100));

// 2. The floor's payload: the same number of bytes as the push sends, in one file.
const pushedProbe = await (async () => {
  const s = await startServer(join(work, 'probe-srv'));
  try { return JSON.parse(karapace(src, ['push', 'bench', 'bench@probe', '--remote', s.url, '--json'])); } finally { await s.stop(); }
})();
const bytes = pushedProbe.uploaded.bytes;
const payload = join(work, 'payload.bin');
{
  const out = createWriteStream(payload);
  const h = new Blake3Hasher();
  let left = bytes;
  const chunk = Buffer.alloc(1 << 20);
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    for (let i = 0; i < n; i += 4096) chunk[i] = (Math.random() * 256) | 0;
    const part = Buffer.from(chunk.subarray(0, n));
    h.update(part);
    if (!out.write(part)) await new Promise((r) => out.once('drain', r));
    left -= n;
  }
  await new Promise((r) => out.end(r));
  var payloadHash = h.digest('hex');
}

/** A random file of `n` bytes on the server's blob path: what curl uploads as the floor of a small push. */
function randomPayload(n, name) {
  const file = join(work, name);
  const data = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4096) data[i] = (Math.random() * 256) | 0;
  writeFileSync(file, data);
  const h = new Blake3Hasher();
  h.update(data);
  return { file, hash: h.digest('hex') };
}
const curlUp = (s, payload) => time(() => {
  const r = spawnSync('curl', ['-sS', '-f', '-o', '/dev/null', '-T', payload.file, '-H', `Authorization: Bearer ${TOKEN}`, `${s.url}/v1/blobs/${payload.hash}`]);
  if (r.status !== 0) throw new Error(`curl upload: ${r.stderr}`);
});

// A second reference for pull: plain Node (no CLI) downloading the same blob into a file
// with http.get + writeSync — what Node itself costs against curl on this machine.
const NODE_GET = `const http=require('node:http'),fs=require('node:fs');const [u,t,o]=process.argv.slice(1);http.get(u,{headers:{authorization:'Bearer '+t}},async(r)=>{if(r.statusCode!==200)process.exit(1);const fd=fs.openSync(o,'w');for await(const c of r)fs.writeSync(fd,c);fs.closeSync(fd);});`;
const results = { push: [], pushFloor: [], pull: [], pullFloor: [], pullNode: [], startup: [], pushTars: [], pullTars: [] };
/** Second push after a one-file change and a second env's push, per mode: seconds, bytes uploaded, and curl's seconds for those bytes. */
const again = { objects: { change: [], env2: [] }, tars: { change: [], env2: [] } };
/** 5,000 small files: first push and pull, per mode. */
const small = { objects: { push: [], pull: [] }, tars: { push: [], pull: [] } };
for (let run = 0; run < RUNS; run++) {
  const srvDir = join(work, `srv-${run}`);
  const s = await startServer(srvDir);
  const s2 = await startServer(join(work, `srv-tars-${run}`));
  try {
    // Layers stored from an earlier push are dropped, so each first push stores its upper dir's contents anew.
    karapace(src, ['gc']);
    results.push.push(time(() => karapace(src, ['push', 'bench', `bench@r${run}`, '--remote', s.url, '--json'])));
    results.pushTars.push(time(() => karapace(src, ['push', 'bench', `bench@r${run}`, '--remote', s2.url, '--json'], tarsDir)));
    const dst = join(work, `dst-${run}`);
    results.pull.push(time(() => karapace(dst, ['pull', `bench@r${run}`, '--remote', s.url, '--json'])));
    rmSync(dst, { recursive: true, force: true });
    results.pullTars.push(time(() => karapace(dst, ['pull', `bench@r${run}`, '--remote', s2.url, '--json'], tarsDir)));
    rmSync(dst, { recursive: true, force: true });
    for (const [mode, server, cwd] of [['objects', s, work], ['tars', s2, tarsDir]]) {
      small[mode].push.push(time(() => karapace(src, ['push', 'small', `small@r${run}`, '--remote', server.url, '--json'], cwd)));
      const d = join(work, `dst-small-${run}`);
      small[mode].pull.push(time(() => karapace(d, ['pull', `small@r${run}`, '--remote', server.url, '--json'], cwd)));
      rmSync(d, { recursive: true, force: true });
    }
    // One file of the environment changes (1 MiB, new content); then the second environment goes up.
    karapace(src, ['exec', 'bench', '--', 'sh', '-c', 'head -c 1048576 /dev/urandom > data/changed']);
    for (const [mode, server, cwd] of [['objects', s, work], ['tars', s2, tarsDir]]) {
      for (const [kind, name] of [['change', 'bench'], ['env2', 'bench2']]) {
        let pushed;
        const t = time(() => { pushed = JSON.parse(karapace(src, ['push', name, `${name}@r${run}-again`, '--remote', server.url, '--json'], cwd)); });
        const payload = randomPayload(Math.max(pushed.uploaded.bytes, 1), `again-${mode}-${kind}.bin`);
        again[mode][kind].push({ t, bytes: pushed.uploaded.bytes, floor: curlUp(server, payload) });
        rmSync(payload.file, { force: true });
      }
    }
    results.pushFloor.push(time(() => {
      const r = spawnSync('curl', ['-sS', '-f', '-o', '/dev/null', '-T', payload, '-H', `Authorization: Bearer ${TOKEN}`, `${s.url}/v1/blobs/${payloadHash}`]);
      if (r.status !== 0) throw new Error(`curl upload: ${r.stderr}`);
    }));
    const out = join(work, 'down.bin');
    results.pullFloor.push(time(() => {
      const r = spawnSync('curl', ['-sS', '-f', '-o', out, '-H', `Authorization: Bearer ${TOKEN}`, `${s.url}/v1/blobs/${payloadHash}`]);
      if (r.status !== 0) throw new Error(`curl download: ${r.stderr}`);
    }));
    rmSync(out, { force: true });
    results.pullNode.push(time(() => {
      const r = spawnSync(process.execPath, ['-e', NODE_GET, `${s.url}/v1/blobs/${payloadHash}`, TOKEN, out]);
      if (r.status !== 0) throw new Error(`node download: ${r.stderr}`);
    }));
    rmSync(out, { force: true });
    // What the CLI costs before it does any work.
    results.startup.push(time(() => karapace(src, ['--version'])));
  } finally {
    await s.stop();
    await s2.stop();
    rmSync(srvDir, { recursive: true, force: true });
    rmSync(join(work, `srv-tars-${run}`), { recursive: true, force: true });
  }
}

const formatMiB = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
const mib = bytes / 1048576;
// Each run's karapace time over the curl floor measured moments later: the load other work
// puts on the machine changes between runs far more than within one.
const paired = (a, b) => median(results[a].map((t, i) => t / results[b][i]));
const row = (name, t, floor, ratio) => `| ${name} | ${t.toFixed(2)} s (${(mib / t).toFixed(0)} MiB/s) | ${floor.toFixed(2)} s (${(mib / floor).toFixed(0)} MiB/s) | ${(t / floor).toFixed(2)}x | ${ratio.toFixed(2)}x |`;
const section = [
  '## Remote push/pull (bench/remote.mjs)',
  '',
  `${new Date().toISOString().slice(0, 10)}, node ${process.version}, CLI ${BIN.slice(REPO.length + 1)}, ${mib.toFixed(0)} MiB environment (mock backend, random data), karapace-server on 127.0.0.1, median of ${RUNS}.`,
  'Floor: `curl` uploading (`-T`) / downloading the same number of bytes as one blob to/from the same server in the same invocation.',
  'karapace timings are the whole CLI command: start-up, packing (push) or unpacking and verifying (pull), transfer, store commit. Goal: ≤ 1.5x.',
  '',
  '| operation | karapace | curl floor | ratio of medians | median of per-run ratios |',
  '|---|---|---|---|---|',
  row('push (empty remote)', m.push, m.pushFloor, paired('push', 'pushFloor')),
  row('pull (empty store)', m.pull, m.pullFloor, paired('pull', 'pullFloor')),
  row('push (empty remote), tar bundle', m.pushTars, m.pushFloor, paired('pushTars', 'pushFloor')),
  row('pull (empty store), tar bundle', m.pullTars, m.pullFloor, paired('pullTars', 'pullFloor')),
  '',
  'The first two rows are bundle v3 (the default: layers as trees and content objects; before each first push `gc` drops the objects an earlier push stored, so the push ingests its upper dir into the store anew); the next two the same with tar bundles (v1/v2, one tar per layer). Then, after one 1 MiB file of the environment changed, a second push, and the push of a second environment on the same base with the same files (other packages): bytes uploaded, and curl uploading that many bytes as one blob to the same server right after.',
  '',
  '| operation | bundle | uploaded | karapace | curl, same bytes | ratio (median of per-run ratios) |',
  '|---|---|---|---|---|---|',
  ...['objects', 'tars'].flatMap((mode) => [['change', 'second push, one file changed'], ['env2', 'second env, same base and files']].map(([kind, label]) => {
    const rows = again[mode][kind];
    const med = (f) => median(rows.map(f));
    return `| ${label} | ${mode === 'objects' ? 'v3' : 'tars'} | ${formatMiB(med((r) => r.bytes))} | ${med((r) => r.t).toFixed(2)} s | ${med((r) => r.floor).toFixed(2)} s | ${med((r) => r.t / r.floor).toFixed(2)}x |`;
  })),
  '',
  `5,000 small files (~30 bytes each) in an upper dir, first push to an empty remote and pull into an empty store (median): v3 push ${median(small.objects.push).toFixed(2)} s, pull ${median(small.objects.pull).toFixed(2)} s; tar bundle push ${median(small.tars.push).toFixed(2)} s, pull ${median(small.tars.pull).toFixed(2)} s (median of per-run ratios v3/tars: push ${median(small.objects.push.map((x, i) => x / small.tars.push[i])).toFixed(2)}x, pull ${median(small.objects.pull.map((x, i) => x / small.tars.pull[i])).toFixed(2)}x). v3 moves them in batches (POST /v1/blobs/batch, up to 1,024 blobs a request, four in flight; /v1/blobs/fetch up to 2,048) and the server stores each uploaded batch as one pack file (one fsync and a directory fsync). In this script the small env's upper dir has no kept tree (no probe push of it), so each push scans and hashes its 5,000 files; bench/remote-small.mjs measures the kept-tree case.`,
  '',
  `CLI start-up alone (\`karapace --version\`): ${m.startup.toFixed(2)} s, ${paired('startup', 'pullFloor').toFixed(2)}x the pull floor and ${paired('startup', 'pushFloor').toFixed(2)}x the push floor.`,
  'What the two commands do beyond the floor: push starts Node (~0.05-0.08 s here, curl ~0.01 s; `push`/`pull` run from bundle/remote.cjs with a V8 code cache and only the HTTP remote plugin), plans under the store lock, asks which blobs are missing, re-packs the upper dir into the request (its hash known from its stat fingerprint, checked again after the pack instead of re-hashing) while the server hashes, writes and fsyncs as it does for curl; with v3 it uploads the upper dir\'s large files as they are, also checked by the dir\'s stat fingerprint after the uploads instead of hashed again (the server hashes each). With v3 a pull fetches the trees, rebuilds each layer\'s tar from its tree with each large content object streamed from its download (checked against its blake3 as it arrives, the next one already downloading, read slabs passed from one download to the next), and checks the tar\'s blake3 against the bundle: two hashes of every byte where tars have one, both needed (docs/remote-protocol.md). Pull starts Node, fetches ref and manifest, starts the upper dir download at once, reads it straight off the socket in up-to-1 MiB reads into reused slabs (node:http\'s 64 KiB reads cost more than hashing and unpacking together), hashes it (blake3), unpacks it, fsyncs large files while the download goes on and the rest at the end (its own entries, not syncfs: that flushed everything dirty on this shared filesystem, 1.2 s once), then commits through the WAL.',
  'Tried and dropped (2026-11-29): asynchronous positioned writes of large tar entries on the libuv pool (pull ~0.53 s → ~0.80 s); the unpacker\'s thread pool for pulls (~0.56 s vs ~0.44 s without, and it broke the early flushes: a file is not complete when the next entry starts); blake3 on a worker thread over shared-memory slabs (no gain: the second CPU is the server\'s); flushing large files every 4 MiB while they are written, and no early flushes at all (no gain). On this 2-CPU machine the CLI\'s threads, the server and the kernel\'s writeback compete for two CPUs.',
  '',
  'Pull times were bimodal on this VM (Linux 6.18, ext4, virtio-balloon free page reporting) while the pull read, and so wrote, 4 MiB at a time: in the slow runs (0.50-0.60 s vs 0.28-0.35 s) the write(2) calls filling the page cache took ~220 ms instead of 55-80 ms for the same 200 MiB (strace), with or without the early flushes, and the floors (64 KiB writes) never did (likely large page-cache folios taken from memory handed back to the host). Reads and writes of at most 1 MiB: no slow runs in 20 alternating tries (0.34-0.39 s), so that is what the pull does.',
  '',
  `Plain Node downloading the same blob (\`http.get\` + \`writeSync\`, no CLI, no hashing, no unpacking): ${m.pullNode.toFixed(2)} s, ${paired('pullNode', 'pullFloor').toFixed(2)}x curl; the pull is ${paired('pull', 'pullNode').toFixed(2)}x that.`,
  '',
  `Load average when the run started: ${load.toFixed(1)} on ${cpus().length} CPUs (other work shares this machine: compare ratios within one run only).`,
  `Raw (s): ${Object.entries(results).map(([k, v]) => `${k}=[${v.map((x) => x.toFixed(2)).join(', ')}]`).join('; ')}`,
  `Raw second pushes (s, bytes, curl s): ${Object.entries(again).flatMap(([mode, kinds]) => Object.entries(kinds).map(([kind, rows]) => `${mode}/${kind}=[${rows.map((r) => `${r.t.toFixed(2)}/${r.bytes}/${r.floor.toFixed(2)}`).join(', ')}]`)).join('; ')}`,
  '',
  '',
].join('\n');
process.stdout.write(section + '\n');

writeSection(join(REPO, 'bench/RESULTS.md'), 'Remote push/pull', section);
rmSync(work, { recursive: true, force: true });
