/** How `build` reports its result (shared by the command and the start-up fast path). */
import type { BuildResult } from '@karapace/kernel';
import type { Reporter } from './reporter.js';

export function reportBuild(reporter: Reporter, result: BuildResult): void {
  reporter.result(result, () =>
    [
      `${result.cached ? 'up to date' : 'built'}: ${result.env_id}`,
      `short_id: ${result.short_id}${result.name ? `  name: ${result.name}` : ''}`,
      `base: ${result.base.image}  packages: ${result.packages.length}  backend: ${result.backend}`,
      `lock: ${result.lock_path}`,
      ...(result.previous_env ? [previousLine(result.previous_env)] : []),
    ].join('\n'),
  );
}

function previousLine(p: NonNullable<BuildResult['previous_env']>): string {
  const moved = p.name_moved ? `name "${p.name_moved}" moved here from ${p.short_id}; ` : '';
  return `${moved}the previous environment ${p.short_id} is kept (\`karapace destroy ${p.short_id}\` removes it)`;
}
