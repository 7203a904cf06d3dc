#!/usr/bin/env node
/**
 * CLI start-up: what the shipped executable (cli/dist/bundle/karapace.cjs) costs before
 * any real work, on the mock backend (no namespaces, so only karapace itself is measured):
 * `exec ENV -- true`, a warm `build` (nothing to do), `list`, against `node -e 0` and a
 * Node script that only spawns `true`, all in one hyperfine run. Goals (issues 4 and 5):
 * exec ≤ 1.4x and warm build ≤ 1.5x `node -e 0`. Writes the "CLI start-up" section of
 * bench/RESULTS.md. Needs hyperfine and `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSection } from './lib/results.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO, 'cli/dist/bundle/karapace.cjs');
const DIR = mkdtempSync(join(tmpdir(), 'kp-bench-startup-'));
const env = { ...process.env, KARAPACE_STORE: join(DIR, 'store'), XDG_CACHE_HOME: join(DIR, 'cache') };
writeFileSync(join(DIR, 'karapace.toml'), 'manifest_version = 1\n[base]\nimage = "mock:bench"\n[system]\npackages = ["git"]\n[runtime]\nbackend = "mock"\n');
writeFileSync(join(DIR, 'spawn-true.mjs'), "import { spawn } from 'node:child_process';\nspawn('true', [], { stdio: 'inherit' }).on('close', (c) => { process.exitCode = c; });\n");
execFileSync(process.execPath, [BIN, 'build', '--name', 'bench'], { cwd: DIR, env, stdio: 'ignore' });

const runs = Number(process.env.RUNS ?? 40);
const commands = [
  ['node -e 0', 'node -e 0'],
  ['node: spawn `true`', `node ${join(DIR, 'spawn-true.mjs')}`],
  ['karapace exec bench -- true', `node ${BIN} exec bench -- true`],
  ['karapace build (warm)', `node ${BIN} build`],
  ['karapace list', `node ${BIN} list`],
];
const out = join(DIR, 'hyperfine.json');
execFileSync('hyperfine', ['-N', '-w', '5', '-r', String(runs), '--export-json', out, ...commands.flatMap(([name, cmd]) => ['-n', name, cmd])], { cwd: DIR, env, stdio: ['ignore', 'ignore', 'inherit'] });
const results = JSON.parse(readFileSync(out, 'utf8')).results;
const floor = results[0];
const rows = results.map((r) => {
  const ratio = r.median / floor.median;
  return `| ${r.command} | ${(r.median * 1000).toFixed(1)} ms | ${(r.user * 1000).toFixed(1)} ms | ${ratio.toFixed(2)}x |`;
});
const section = [
  '## CLI start-up (bench/startup.mjs)',
  '',
  `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${runs} runs each, load average ${loadavg()[0].toFixed(1)} on this 2-core machine (the ratio, measured in the same run, is what to read).`,
  '',
  '| command | median | user CPU (mean) | vs `node -e 0` (medians) |',
  '|---|---|---|---|',
  ...rows,
  '',
  'Goals: exec ≤ 1.4x, warm build ≤ 1.5x. How: the executable is a small CommonJS file; `exec` and a warm',
  '`build` run from `bundle/exec.cjs` — a CommonJS bundle of only what they need (kernel exec path, the',
  'backend plugins) compiled with a V8 code cache in `$XDG_CACHE_HOME/karapace` — without clipanion or any',
  'plugin a warm build does not need; other commands load the full ES-module bundle and register only the',
  'command being run. `node: spawn true` is the floor for any Node CLI that runs a command.',
  '',
].join('\n');
writeSection(join(REPO, 'bench/RESULTS.md'), 'CLI start-up', section);
console.log(section);
rmSync(DIR, { recursive: true, force: true });
