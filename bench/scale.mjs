#!/usr/bin/env node
/**
 * Cost of `exec` and `list` against the number of environments in the store (issue 19:
 * exec the same at 1 and 10,000 envs; `list` at most 1.5x `node -e 0` at 1,000). Mock
 * backend: one env is built, the others are copies of its metadata under other ids and
 * names (written as karapace writes them, checksum included); `karapace migrate` then
 * builds the name/id index, as it does for a store from before the index. Each size is one
 * hyperfine invocation with `node -e 0` as the floor. Writes the "scale" section of
 * bench/RESULTS.md.
 *
 *   node bench/scale.mjs [--runs N] [--sizes 1,100,1000,10000] [--baseline DIR] [--priority]
 *
 * `--baseline DIR`: another checkout's build (e.g. before the index) in the same invocations.
 * `--priority`: measure in an own session with nice -20 (a shared, loaded machine).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from './lib/results.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'cli/dist/bundle/karapace.cjs');
const arg = (name) => process.argv.indexOf(name);
const RUNS = arg('--runs') > 0 ? Number(process.argv[arg('--runs') + 1]) : 20;
const SIZES = arg('--sizes') > 0 ? process.argv[arg('--sizes') + 1].split(',').map(Number) : [1, 100, 1000, 10000];
const BASELINE = arg('--baseline') > 0 ? process.argv[arg('--baseline') + 1] : undefined;
const PRIORITY = arg('--priority') > 0;
const { canonicalJson, hashBytes } = await import(join(REPO, 'kernel/dist/index.js'));
// Extra CA certificates are parsed by every Node start (the floor too): on a machine that
// sets them they dominate `node -e 0` and hide what karapace itself costs.
const EXTRA_CA = process.env.NODE_EXTRA_CA_CERTS !== undefined;
delete process.env.NODE_EXTRA_CA_CERTS;

if (spawnSync('sh', ['-c', 'command -v hyperfine'], { stdio: 'ignore' }).status !== 0) {
  console.error('bench/scale.mjs needs hyperfine (apt-get install hyperfine)');
  process.exit(1);
}

const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
const hex = (n, i) => hashBytes(`scale-${n}-${i}`);

/** A store with `n` environments; the measured one is named `target`. */
function storeWith(n) {
  const dir = mkdtempSync(join(tmpdir(), `kp-bench-scale-${n}-`));
  const env = { ...process.env, KARAPACE_STORE: join(dir, 'store'), XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache') };
  writeFileSync(join(dir, 'karapace.toml'), 'manifest_version = 1\n[base]\nimage = "mock:scale"\n[system]\npackages = ["git"]\n[runtime]\nbackend = "mock"\n');
  execFileSync(process.execPath, [BIN, 'build', '--name', 'target'], { cwd: dir, env, stdio: 'ignore' });
  const metaDir = join(dir, 'store/store/metadata');
  const [file] = readdirSync(metaDir);
  const { checksum: _c, ...meta } = JSON.parse(readFileSync(join(metaDir, file), 'utf8'));
  for (let i = 1; i < n; i++) {
    const envId = hex(n, i);
    const copy = { ...meta, env_id: envId, short_id: envId.slice(0, 12), name: `env-${i}`, created_at: new Date(Date.parse(meta.created_at) + i).toISOString() };
    writeFileSync(join(metaDir, `${envId}.json`), JSON.stringify({ ...copy, checksum: hashBytes(canonicalJson(copy)) }, null, 2) + '\n');
  }
  execFileSync(process.execPath, [BIN, 'migrate'], { cwd: dir, env, stdio: 'ignore' });
  return { dir, env };
}

const rows = [];
for (const n of SIZES) {
  const { dir, env } = storeWith(n);
  const load = loadavg()[0];
  const cmds = [
    ['node -e 0', `${q(process.execPath)} -e 0`],
    ['exec target -- true', `${q(process.execPath)} ${q(BIN)} exec target -- true`],
    ['list', `${q(process.execPath)} ${q(BIN)} list`],
    ...(BASELINE ? [
      ['baseline: exec target -- true', `${q(process.execPath)} ${q(join(BASELINE, 'cli/dist/bundle/karapace.cjs'))} exec target -- true`],
      ['baseline: list', `${q(process.execPath)} ${q(join(BASELINE, 'cli/dist/bundle/karapace.cjs'))} list`],
    ] : []),
  ];
  const out = join(dir, 'hyperfine.json');
  const hyperfine = ['hyperfine', '-N', '--warmup', '2', '--runs', String(n >= 10000 ? Math.min(RUNS, 10) : RUNS), '--export-json', out, ...cmds.flatMap(([name, cmd]) => ['-n', name, cmd])];
  const argv = PRIORITY ? ['setsid', 'sh', '-c', 'echo -20 > /proc/self/autogroup; exec nice -n -20 "$@"', 'prio', ...hyperfine] : hyperfine;
  const hf = spawnSync(argv[0], argv.slice(1), { cwd: dir, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (hf.status !== 0) process.exit(hf.status ?? 1);
  const results = JSON.parse(readFileSync(out, 'utf8')).results;
  const floor = results.find((r) => r.command === 'node -e 0').median;
  for (const r of results) rows.push(`| ${n} | ${load.toFixed(1)} | ${r.command} | ${ms(r.median)} | ${(r.median / floor).toFixed(2)}x |`);
  rmSync(dir, { recursive: true, force: true });
}
mkdirSync(join(REPO, 'bench'), { recursive: true });
const section = [
  '## scale: exec and list against the number of environments (bench/scale.mjs)',
  '',
  `${new Date().toISOString().slice(0, 10)}, node ${process.version}, hyperfine -N, ${RUNS} runs (10 at 10,000 envs) after 2 warm-ups, medians${PRIORITY ? ', own session at nice -20' : ''}; mock backend, the store in KARAPACE_STORE; load average (1 min) when each size's run started.`,
  `Floor: \`node -e 0\` in the same invocation (one per store size). Goal (issue 19): exec the same at every size; \`list\` ≤ 1.5x the floor at 1,000 envs.${EXTRA_CA ? ' NODE_EXTRA_CA_CERTS, set on this machine, was unset for every command (floor included): every Node start parses those certificates.' : ''}`,
  '',
  '| envs | load | command | median | vs `node -e 0` |',
  '|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
writeSection(join(REPO, 'bench/RESULTS.md'), 'scale:', section);
console.log(section);
