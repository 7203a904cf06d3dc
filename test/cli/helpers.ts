/** Shared bits for the front-end tests: a `karapace` on PATH and a mock environment. */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, mockManifest, type Sandbox } from '../helpers/cli.js';

/** A bin dir holding a `karapace` wrapper that runs the built CLI. */
export function karapaceOnPath(box: Sandbox): string {
  const bin = join(box.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const wrapper = join(bin, 'karapace');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return bin;
}

/** Builds a mock environment in `<box>/<dir>` and names it. */
export async function buildMock(box: Sandbox, dir: string, name: string, extra = ''): Promise<{ env_id: string; short_id: string }> {
  box.write(`${dir}/karapace.toml`, mockManifest({ image: `mock:${dir}`, extra }));
  return box.json(['build', dir, '--name', name]);
}

export function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}
