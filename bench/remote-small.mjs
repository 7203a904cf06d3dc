#!/usr/bin/env node
/**
 * First push and pull of many small files (5,000 files of ~20 bytes in an upper dir, mock
 * backend) to a fresh karapace-server on 127.0.0.1: bundle v3 (trees and content objects)
 * against tar bundles (plugin option `bundle: "tars"`), alternating within each run, and
 * optionally the same with another built checkout (`--before DIR`) for a before/after pair.
 * A probe push first keeps the upper dir's tree (as every push after the first finds it).
 * Writes the "Many small files: remote push/pull" section of bench/RESULTS.md.
 * Goal: v3 within 1.5x of tars.
 *
 *   node bench/remote-small.mjs [--runs 5] [--files 5000] [--before /path/to/built/checkout]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSection } from './lib/results.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, files: { type: 'string', default: '5000' }, before: { type: 'string' } } });
const RUNS = Number(values.runs);
const FILES = Number(values.files);
const TOKEN = 'bench-token-0123456789';
const binOf = (repo) => (existsSync(join(repo, 'cli/dist/bundle/karapace.cjs')) ? join(repo, 'cli/dist/bundle/karapace.cjs') : join(repo, 'cli/dist/bin.js'));
const serverOf = (repo) => join(repo, 'plugins/remote-http/dist/server/bin.js');
const loadStart = loadavg()[0];
const work = mkdtempSync(join(tmpdir(), 'kp-bench-small-'));
const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', XDG_CONFIG_HOME: join(work, 'cfg'), KARAPACE_REMOTE_TOKEN: TOKEN };
mkdirSync(env.XDG_CONFIG_HOME, { recursive: true });
const tarsDir = join(work, 'tars');
mkdirSync(tarsDir);
writeFileSync(join(tarsDir, '.karapacerc.json'), JSON.stringify({ '@karapace/remote-http': { bundle: 'tars' } }));
writeFileSync(join(work, 'tokens.json'), JSON.stringify({ tokens: [{ name: 'bench', token: TOKEN, scopes: ['read', 'write'] }] }));

function karapace(repo, store, args, cwd = work) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [binOf(repo), ...args], { env: { ...env, KARAPACE_STORE: store }, cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`karapace ${args.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function startServer(repo, dir) {
  const child = spawn(process.execPath, [serverOf(repo), '--dir', dir, '--port', '0', '--tokens', join(work, 'tokens.json'), '--log', join(work, 'server.log')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (c) => { out += c; const m = /listening on (\S+)/.exec(out); if (m) resolve(m[1]); });
  });
  return { url, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
}

const src = join(work, 'src');
mkdirSync(join(work, 'proj'));
writeFileSync(join(work, 'proj/karapace.toml'), 'manifest_version = 1\n[base]\nimage = "mock:bench"\n[system]\npackages = ["curl"]\n[runtime]\nbackend = "mock"\n');
karapace(REPO, src, ['build', join(work, 'proj'), '--name', 'small']);
karapace(REPO, src, ['exec', 'small', '--', 'sh', '-c', `mkdir -p d && i=0; while [ $i -lt ${FILES} ]; do echo "file $i $$" > d/f$i; i=$((i+1)); done`]);
// Past the racy window, then one push so the upper dir's tree is kept (the common case).
await new Promise((r) => setTimeout(r, 2100));
{
  const s = await startServer(REPO, join(work, 'probe'));
  try { karapace(REPO, src, ['push', 'small', 'small@probe', '--remote', s.url]); } finally { await s.stop(); }
}

const variants = [['v3', REPO, work], ['tars', REPO, tarsDir], ...(values.before ? [['v3 before', values.before, work]] : [])];
const times = Object.fromEntries(variants.map(([name]) => [name, { push: [], pull: [] }]));
for (let run = 0; run < RUNS; run++) {
  for (const [name, repo, cwd] of variants) {
    const dir = join(work, 'srv');
    rmSync(dir, { recursive: true, force: true });
    const s = await startServer(repo, dir);
    try {
      // Objects an earlier push or pull stored are dropped: each push starts from the same store.
      karapace(repo, src, ['gc'], cwd);
      times[name].push.push(karapace(repo, src, ['push', 'small', `small@r${run}`, '--remote', s.url], cwd));
      const dst = join(work, 'dst');
      times[name].pull.push(karapace(repo, dst, ['pull', `small@r${run}`, '--remote', s.url], cwd));
      rmSync(dst, { recursive: true, force: true });
    } finally {
      await s.stop();
    }
  }
}
const loadEnd = loadavg()[0];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = (a, b, op) => median(times[a][op].map((x, i) => x / times[b][op][i]));
const rows = variants.map(([name]) => `| ${name} | ${median(times[name].push).toFixed(2)} s | ${ratio(name, 'tars', 'push').toFixed(2)}x | ${median(times[name].pull).toFixed(2)} s | ${ratio(name, 'tars', 'pull').toFixed(2)}x |`);
const section = [
  '## Many small files: remote push/pull (bench/remote-small.mjs)',
  '',
  `${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${FILES} files of ~20 bytes in an upper dir (mock backend), first push to a fresh karapace-server on 127.0.0.1 and pull into an empty store, median of ${RUNS}, variants alternating within each run${values.before ? ` (\`v3 before\`: a checkout of ${spawnSync('git', ['-C', values.before, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || values.before})` : ''}. The upper dir's tree is kept from a probe push, as any push after an env's first finds it. Goal: v3 within 1.5x of tars.`,
  '',
  '| variant | push | push / tars (median of per-run ratios) | pull | pull / tars |',
  '|---|---|---|---|---|',
  ...rows,
  '',
  'Where the time went (CPU profiles of the CLI and the server, the server\'s request log, strace; 2026-12-07): every push after an env\'s first also ingested its upper dir into the local store (the kept-tree branch fell through to ingestDir: 5,000 objects written and a syncfs, ~1.3 s of client CPU) — fixed, which is most of `v3 before` → `v3`; the server\'s `missing` and batch `fetch` awaited one stat (and readFile) per blob — now synchronous slices. What is left is the server creating one file per blob (a tmp file each, one syncfs, a rename each): its two batch requests took 1.0-4.8 s at load 8-9 and one batch of 4,000 blobs alone 1.4-2.1 s at load 2 (BlobStorage.putMany in-process: 1.3-1.4 s, 0.23 ms per open(O_CREAT) of a tmp file), while the tar bundle\'s one 5 MB PUT takes 0.10-0.23 s and the CLI is >95% idle meanwhile. The same create loop in a plain script ran at 22-36 µs a file at some moments and 0.2-0.4 ms at others, on the same filesystem (not explained: directory placement by ext4 is a suspect); 16 concurrent async creates did not change it consistently. Pull is not behind: the CLI creates the same 5,000 files with either bundle. Since 2026-12-08 the server stores each batch as one pack file (the local store\'s pack format: the blobs, an index, a trailer; one fsync and one directory fsync) instead of a file per blob, and the client sends batches of at most 1,024 blobs, four in flight, so it reads the next while the server stores one. Until 2026-12-08 a tar push dropped the upper dir\'s kept tree, so every v3 push after this script\'s first tars variant packed and scanned the 5,000 files again (~0.4 s); a tar push of the same tar now keeps it.',
  '',
  `Load average ${loadStart.toFixed(1)} at the start, ${loadEnd.toFixed(1)} at the end, on ${cpus().length} CPUs (compare ratios within one run only).`,
  `Raw (s): ${variants.map(([name]) => `${name} push=[${times[name].push.map((x) => x.toFixed(2)).join(', ')}] pull=[${times[name].pull.map((x) => x.toFixed(2)).join(', ')}]`).join('; ')}`,
  '',
  '',
].join('\n');
process.stdout.write(section + '\n');
writeSection(join(REPO, 'bench/RESULTS.md'), 'Many small files: remote push/pull', section);
rmSync(work, { recursive: true, force: true });
