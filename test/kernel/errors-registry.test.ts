/**
 * The error-code registry (kernel/src/errors-registry.ts) is the one definition of every
 * `KP_*` code: each code in the sources is registered and each registered code is used;
 * each is raised with the registry's exit code; docs/errors.md is generated from it.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ERROR_CODES, ExitCode } from '@karapace/kernel';
import { REPO } from '../helpers/cli.js';

const REGISTRY = join(REPO, 'kernel/src/errors-registry.ts');

/** The TypeScript sources of every workspace package (not dist, not tests). */
function sources(): string[] {
  const roots = [join(REPO, 'kernel/src'), join(REPO, 'cli/src'), ...readdirSync(join(REPO, 'plugins')).map((p) => join(REPO, 'plugins', p, 'src'))];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(c|m)?ts$/.test(name) && !name.endsWith('.d.ts') && path !== REGISTRY) out.push(path);
    }
  };
  for (const r of roots) {
    try {
      walk(r);
    } catch {
      // a plugin directory without src (none today)
    }
  }
  return out;
}

const CLASS_EXIT: Record<string, number> = {
  ManifestError: ExitCode.Manifest, UsageError: ExitCode.Manifest, StoreError: ExitCode.Store, RuntimeFailure: ExitCode.Failure, PluginError: ExitCode.Failure,
};

test('every KP_ code in the sources is registered, and every registered code is used', (t) => {
  const used = new Map<string, string>();
  for (const file of sources()) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bKP_[A-Z0-9_]+\b/g)) if (!used.has(m[0])) used.set(m[0], relative(REPO, file));
  }
  t.true(used.size > 100, `only ${used.size} codes found: the scan is broken`);
  const unregistered = [...used].filter(([code]) => !(code in ERROR_CODES)).map(([code, file]) => `${code} (${file})`);
  t.deepEqual(unregistered, [], 'add these to kernel/src/errors-registry.ts');
  t.deepEqual(Object.keys(ERROR_CODES).filter((code) => !used.has(code)), [], 'registered but raised nowhere: remove them');
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    t.true([1, 2, 3].includes(info.exit), code);
    t.true(info.meaning.length > 10 && !info.meaning.includes('\n'), `${code}: one line of meaning`);
  }
});

test('each code is raised with the exit code the registry gives it', (t) => {
  const wrong: string[] = [];
  let checked = 0;
  for (const file of sources()) {
    const text = readFileSync(file, 'utf8');
    // new UsageError('KP_X', …) and new UsageError(cond ? 'KP_A' : 'KP_B', …)
    for (const m of text.matchAll(/new\s+(ManifestError|UsageError|StoreError|RuntimeFailure|PluginError)\(\s*([^,]*?'KP_[A-Z0-9_]+'[^,]*?),/g)) {
      for (const code of m[2]!.match(/KP_[A-Z0-9_]+/g)!) {
        checked++;
        const registered = ERROR_CODES[code as keyof typeof ERROR_CODES]?.exit;
        if (registered !== CLASS_EXIT[m[1]!]) wrong.push(`${code}: ${m[1]} (exit ${CLASS_EXIT[m[1]!]}) in ${relative(REPO, file)}, registry says ${registered}`);
      }
    }
    // Error documents written by hand: { code: 'KP_X', …, exitCode: N }
    for (const m of text.matchAll(/code: '(KP_[A-Z0-9_]+)'[^}]*?exitCode: (\d)/g)) {
      checked++;
      if (ERROR_CODES[m[1] as keyof typeof ERROR_CODES]?.exit !== Number(m[2])) wrong.push(`${m[1]}: exit ${m[2]} in ${relative(REPO, file)}`);
    }
  }
  t.true(checked > 150, `only ${checked} raises found: the scan is broken`);
  t.deepEqual(wrong, []);
});

test('docs/errors.md is what the registry generates (node scripts/docs-errors.mjs)', async (t) => {
  const { errorsMarkdown } = await import(join(REPO, 'scripts/docs-errors.mjs'));
  t.is(readFileSync(join(REPO, 'docs/errors.md'), 'utf8'), errorsMarkdown(ERROR_CODES), 'docs/errors.md is stale: run `node scripts/docs-errors.mjs`');
});
