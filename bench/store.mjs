#!/usr/bin/env node
/**
 * Store benchmark (issue 3): commit (pack + hash + durable store) and restore (verified
 * unpack) of a rootfs-sized tree — an extracted Debian bookworm minbase — against the GNU
 * floor doing the same work in the same run:
 *   commit floor:  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | tee FILE | b3sum; sync FILE
 *   restore floor: tar -xf FILE
 * Medians of N runs (warm page cache for both). Writes the "store" section of bench/RESULTS.md.
 *
 *   node bench/store.mjs [--runs 5] [--dir /var/tmp/kp-bench]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { packLayer, unpackLayer, storeLayout, digestTree } from '../kernel/dist/index.js';
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
    execFileSync('mmdebstrap', ['--variant=minbase', 'bookworm', `${tarball}.tmp.tar`, 'http://deb.debian.org/debian'], { stdio: 'inherit' });
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
  const tree = prepareTree();
  const { entries, bytes } = await digestTree(tree);
  const floorFile = join(DIR, 'floor.tar');
  const layout = storeLayout(join(DIR, 'store'));
  const results = { commitFloor: [], commit: [], restoreFloor: [], restore: [], restoreSync: [] };
  let record;
  for (let i = 0; i < RUNS; i++) {
    rmSync(floorFile, { force: true });
    results.commitFloor.push(time(() => sh(`cd ${tree} && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | tee ${floorFile} | b3sum >/dev/null; sync ${floorFile}`)));
    rmSync(layout.root, { recursive: true, force: true });
    results.commit.push(await time(async () => { record = await packLayer(layout, tree, { kind: 'snapshot' }); }));

    const outFloor = join(DIR, 'out-floor');
    const outOurs = join(DIR, 'out-ours');
    rmSync(outFloor, { recursive: true, force: true });
    rmSync(outOurs, { recursive: true, force: true });
    sh('sync');
    mkdirSync(outFloor);
    results.restoreFloor.push(time(() => sh(`tar -xf ${floorFile} -C ${outFloor}`)));
    results.restore.push(await time(() => unpackLayer(layout, record.hash, outOurs, { whiteouts: 'overlay' })));
    rmSync(outOurs, { recursive: true, force: true });
    sh('sync');
    // restoreEnv also makes the tree durable before its swap (syncfs).
    results.restoreSync.push(await time(async () => {
      await unpackLayer(layout, record.hash, outOurs, { whiteouts: 'overlay' });
      spawnSync('sync', ['-f', outOurs]);
    }));
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  const ratio = (a, b) => (a / b).toFixed(2);
  const cpus = (readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) ?? [])[1] ?? 'unknown cpu';
  const section = [
    '## store: commit and restore (bench/store.mjs)',
    '',
    `Tree: Debian bookworm minbase, ${entries} entries, ${(bytes / 1e6).toFixed(0)} MB of file content; layer tar ${(record.size / 1e6).toFixed(0)} MB.`,
    `Median of ${RUNS} runs, warm page cache, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus}; load average at the end ${loadavg()[0].toFixed(1)} (figures from a busy shared machine are noisy: compare the raw runs).`,
    '',
    '| operation | karapace | GNU floor | ratio (goal ≤ 1.2) |',
    '|---|---|---|---|',
    `| commit (pack + blake3 + fsync into the store) | ${m.commit.toFixed(3)} s | ${m.commitFloor.toFixed(3)} s (\`tar --sort=name … \\| tee FILE \\| b3sum; sync FILE\`) | ${ratio(m.commit, m.commitFloor)} |`,
    `| restore (verified unpack, overlay whiteouts) | ${m.restore.toFixed(3)} s | ${m.restoreFloor.toFixed(3)} s (\`tar -xf FILE\`) | ${ratio(m.restore, m.restoreFloor)} |`,
    `| restore + syncfs (what \`karapace restore\` does before its swap) | ${m.restoreSync.toFixed(3)} s | ${m.restoreFloor.toFixed(3)} s (\`tar -xf FILE\`, no sync) | ${ratio(m.restoreSync, m.restoreFloor)} |`,
    '',
    `Raw (s): ${Object.entries(results).map(([k, v]) => `${k}=[${v.map((x) => x.toFixed(3)).join(', ')}]`).join('; ')}`,
    '',
  ].join('\n');
  writeSection(join(REPO, 'bench/RESULTS.md'), 'store: commit and restore', section);
  console.log(section);
  rmSync(join(DIR, 'out-floor'), { recursive: true, force: true });
  rmSync(join(DIR, 'out-ours'), { recursive: true, force: true });
  rmSync(layout.root, { recursive: true, force: true });
  rmSync(floorFile, { force: true });
}

await main();
