/** How `build` reports its result (shared by the command and the start-up fast path). */
import { homedir } from 'node:os';
import type { BuildResult } from '@karapace/kernel';
import { printable } from './printable.js';
import type { Reporter } from './reporter.js';

export function reportBuild(reporter: Reporter, result: BuildResult): void {
  reporter.result(result, () =>
    [
      `${result.cached ? 'up to date' : 'built'}: ${result.env_id}`,
      `short_id: ${result.short_id}${result.name ? `  name: ${result.name}` : ''}`,
      `base: ${result.base.image}  packages: ${result.packages.length}  backend: ${result.backend}`,
      `lock: ${result.lock_path}`,
      ...(result.previous_env ? [previousLine(result.previous_env)] : []),
      ...exportLines(result),
    ].join('\n'),
  );
}

function previousLine(p: NonNullable<BuildResult['previous_env']>): string {
  const moved = p.name_moved ? `name "${p.name_moved}" moved here from ${p.short_id}; ` : '';
  return `${moved}the previous environment ${p.short_id} is kept (\`karapace destroy ${p.short_id}\` removes it)`;
}

/** A path under the home directory as `~/…` (shorter, and what the user would type). */
function tilde(path: string, home = homedir()): string {
  return home && (path === home || path.startsWith(`${home}/`)) ? `~${path.slice(home.length)}` : path;
}

/** What the build put on the host (app-export's `built` tap): one line per app. */
export function exportLines(result: Pick<BuildResult, 'extensions'>, home?: string): string[] {
  const ext = result.extensions?.['app-export'] as { exported?: { app: string; files: string[] }[] } | undefined;
  return (ext?.exported ?? []).map((e) => `exported ${printable(e.app)} → ${e.files.map((f) => printable(tilde(f, home))).join(', ')}`);
}
