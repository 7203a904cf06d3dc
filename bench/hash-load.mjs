#!/usr/bin/env node
/**
 * What loading blake3 costs a command that hashes (issues 18, 19): our addon
 * (native/blake3-addon.c, karapace_blake3.node) against @napi-rs/blake-hash, which
 * kernel/src/hash.ts falls back to (KARAPACE_HASH_NATIVE=0 forces it). Three measures:
 *  - instructions (valgrind callgrind, load-independent) of `node -e` loading each the way
 *    hash.ts does and hashing a few bytes, and of `node -e 0`;
 *  - `karapace commit` of one new 1 MiB file on a mock environment, with each, and `node -e 0`,
 *    alternating (wall time, medians), plus its instructions (median of 3);
 *  - the instructions of `karapace exec dev -- true` and a second `karapace build` on the same
 *    mock base, with each.
 * NODE_EXTRA_CA_CERTS is unset for every command (Node parses those certificates on start).
 * Writes the "hash: loading blake3" section of bench/RESULTS.md.
 *
 *   node bench/hash-load.mjs [--runs 20]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeBinary } from '../kernel/dist/index.js';
import { writeSection } from './lib/results.mjs';

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] || 20) || 20;
const REPO = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(REPO, 'cli/dist/bundle/karapace.cjs');
const ADDON = nativeBinary('karapace_blake3.node');
if (!ADDON) throw new Error('karapace_blake3.node is not built: make -C native');

const { NODE_EXTRA_CA_CERTS: _certs, ...baseEnv } = process.env;
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const M = (n) => `${(n / 1e6).toFixed(1)} M`;
const load = () => loadavg()[0].toFixed(1);

function instructions(argv, opts = {}) {
  const out = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, ...argv], { encoding: 'utf8', env: baseEnv, ...opts });
  if (out.status !== 0) throw new Error(`callgrind ${argv.join(' ')}: ${out.stderr.slice(-2000)}`);
  return Number(/Collected : (\d+)/.exec(out.stderr)?.[1] ?? NaN);
}
const instructions3 = (argv, opts) => median([0, 1, 2].map(() => instructions(argv, opts)));

// 1. Loading each and hashing a few bytes, as hash.ts does.
const loadOurs = `const m={exports:{}};process.dlopen(m,${JSON.stringify(ADDON)});const b=m.exports;b.hash('abc');const s=Buffer.allocUnsafe(b.hasherSize);b.init(s);b.update(s,'x');b.digest(s)`;
const loadPackage = `const r=require('node:module').createRequire(${JSON.stringify(join(REPO, 'kernel/dist/hash.js'))});const b=r('@napi-rs/blake-hash-linux-'+process.arch+'-gnu');b.blake3('abc').toString('hex');const h=new b.Blake3Hasher();h.update('x');h.digest('hex')`;
const loadLoad = load();
const micro = { node: instructions3(['-e', '0']), ours: instructions3(['-e', loadOurs]), pkg: instructions3(['-e', loadPackage]) };

// 2. and 3. A mock environment.
const dir = mkdtempSync(join(tmpdir(), 'kp-bench-hash-'));
const env = { ...baseEnv, KARAPACE_STORE: join(dir, 'store'), XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache') };
const envPkg = { ...env, KARAPACE_HASH_NATIVE: '0' };
const project = (name) => {
  const p = join(dir, name);
  mkdirSync(p, { recursive: true });
  writeFileSync(join(p, 'karapace.toml'), 'manifest_version = 1\n[base]\nimage = "mock:hash"\n[system]\npackages = ["git"]\n[runtime]\nbackend = "mock"\n');
  return p;
};
const cwd = project('dev');
execFileSync(process.execPath, [BIN, 'build', '--name', 'dev'], { cwd, env, stdio: 'ignore' });
const envId = readdirSync(join(dir, 'store/env'))[0];
const upper = join(dir, 'store/env', envId, 'upper');
let n = 0;
const newFile = (size = 1 << 20) => {
  mkdirSync(join(upper, 'srv'), { recursive: true });
  writeFileSync(join(upper, 'srv', `data-${n++}`), execFileSync('head', ['-c', String(size), '/dev/urandom']));
};
const timed = (argv, e) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, { cwd, env: e, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
const wall = { ours: [], pkg: [], node: [] };
const loads = [];
for (let i = 0; i < RUNS; i++) {
  loads.push(loadavg()[0]);
  for (const [k, e] of (i % 2 ? [['pkg', envPkg], ['ours', env]] : [['ours', env], ['pkg', envPkg]])) {
    newFile();
    wall[k].push(timed([BIN, 'commit', 'dev'], e));
  }
  wall.node.push(timed(['-e', '0'], baseEnv));
}
const commitIr = {};
for (const [k, e] of [['ours', env], ['pkg', envPkg]]) {
  // A 4 KiB file: under valgrind BLAKE3's C dispatch picks a narrower SIMD path than the Rust
  // crate does (8 MiB: ~25 M against ~15 M instructions), which on the CPU itself hash at the
  // same speed; a small file leaves what differs in start-up.
  commitIr[k] = median([0, 1, 2].map(() => { newFile(4096); return instructions([BIN, 'commit', 'dev'], { cwd, env: e }); }));
}
const execIr = { ours: instructions3([BIN, 'exec', 'dev', '--', 'true'], { cwd, env }), pkg: instructions3([BIN, 'exec', 'dev', '--', 'true'], { cwd, env: envPkg }) };
// A second env on the same base and packages: build then remove, so each run builds anew.
const second = (e) => {
  const p = project(`second-${n++}`);
  const ir = instructions([BIN, 'build', '--name', `s${n}`], { cwd: p, env: e });
  execFileSync(process.execPath, [BIN, 'destroy', `s${n}`], { cwd: p, env, stdio: 'ignore' });
  return ir;
};
const buildIr = { ours: median([0, 1, 2].map(() => second(env))), pkg: median([0, 1, 2].map(() => second(envPkg))) };
rmSync(dir, { recursive: true, force: true });

const m = Object.fromEntries(Object.entries(wall).map(([k, v]) => [k, median(v)]));
const diff = (a, b) => `${a - b >= 0 ? '' : '−'}${M(Math.abs(a - b))}`;
const section = [
  '## hash: loading blake3, our addon vs @napi-rs/blake-hash (bench/hash-load.mjs)',
  '',
  `${new Date().toISOString().slice(0, 10)}, node ${process.version}. \`ours\` is native/blake3-addon.c (karapace_blake3.node, ${Math.round(spawnSync('stat', ['-c', '%s', ADDON], { encoding: 'utf8' }).stdout / 1024)} KiB), \`package\` @napi-rs/blake-hash (a 1 MiB addon), KARAPACE_HASH_NATIVE=0 on the same build. Instructions: valgrind callgrind, medians of 3, load-independent (load ${loadLoad} at the start). Wall: ${RUNS} rounds alternating ours / package / \`node -e 0\`, medians, load average ${median(loads).toFixed(1)} (median at the rounds' starts, ${load()} at the end); NODE_EXTRA_CA_CERTS unset.`,
  '',
  '| | ours | package | ours − package |',
  '|---|---|---|---|',
  `| \`node -e\`: load and hash a few bytes (\`node -e 0\`: ${M(micro.node)}) | ${M(micro.ours)} | ${M(micro.pkg)} | ${diff(micro.ours, micro.pkg)} |`,
  `| \`karapace commit\`, one new 4 KiB file, mock env: instructions | ${M(commitIr.ours)} | ${M(commitIr.pkg)} | ${diff(commitIr.ours, commitIr.pkg)} |`,
  `| \`karapace commit\`, one new 1 MiB file, mock env: wall (\`node -e 0\`: ${m.node.toFixed(1)} ms) | ${m.ours.toFixed(1)} ms (${(m.ours / m.node).toFixed(2)}x) | ${m.pkg.toFixed(1)} ms (${(m.pkg / m.node).toFixed(2)}x) | ${(m.ours - m.pkg).toFixed(1)} ms |`,
  `| \`karapace exec dev -- true\`, mock: instructions | ${M(execIr.ours)} | ${M(execIr.pkg)} | ${diff(execIr.ours, execIr.pkg)} |`,
  `| \`karapace build\` of a second env on the same mock base: instructions | ${M(buildIr.ours)} | ${M(buildIr.pkg)} | ${diff(buildIr.ours, buildIr.pkg)} |`,
  '',
  `Raw wall (ms): ours=[${wall.ours.map((x) => x.toFixed(1)).join(', ')}]; package=[${wall.pkg.map((x) => x.toFixed(1)).join(', ')}]; node=[${wall.node.map((x) => x.toFixed(1)).join(', ')}]`,
  '',
].join('\n');
console.log(section);
writeSection(join(REPO, 'bench/RESULTS.md'), 'hash: loading blake3', section);
