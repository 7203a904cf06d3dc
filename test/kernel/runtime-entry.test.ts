/**
 * kernel/src/runtime.ts is the kernel as the exec bundle sees it (scripts/bundle.mjs resolves
 * @karapace/kernel to it there): every name it exports must be the full API's own value, so
 * exec, enter and the runtime backends behave the same in that bundle as anywhere else.
 * Only the two entries loaded on first use are wrappers, and they answer as the full API does.
 */
import test from 'ava';
import * as full from '../../kernel/dist/index.js';
import * as runtime from '../../kernel/dist/runtime.js';

const LAZY = ['buildIfUpToDate', 'listEnvs'];

test('every name of the runtime entry is the full API value of that name', (t) => {
  const names = Object.keys(runtime);
  t.true(names.length > 30);
  for (const name of names) {
    t.true(name in full, `${name} is not in the full API`);
    if (LAZY.includes(name)) t.is(typeof (runtime as Record<string, unknown>)[name], 'function');
    else t.is((runtime as Record<string, unknown>)[name], (full as Record<string, unknown>)[name], name);
  }
});

test('the entries loaded on first use answer as the full API does', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'kp-runtime-entry-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const engine = await full.createEngine({ cwd: dir, store: join(dir, 'store'), globalConfigDir: join(dir, 'config') });
  t.deepEqual(await runtime.listEnvs(engine), await full.listEnvs(engine));
  // No manifest here: both fail alike.
  const a = await runtime.buildIfUpToDate(engine, {}).catch((e: Error) => e.message);
  const b = await full.buildIfUpToDate(engine, {}).catch((e: Error) => e.message);
  t.deepEqual(a, b);
});
