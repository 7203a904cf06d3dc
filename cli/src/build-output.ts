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
    ].join('\n'),
  );
}
