/** How `commit` and `restore` report their results (shared by the commands and the start-up fast path). */
import type { CommitResult, Logger, RestoreResult } from '@karapace/kernel';
import { formatBytes } from './progress-bar.js';
import type { Reporter } from './reporter.js';

export function reportCommit(reporter: Reporter, r: CommitResult): void {
  reporter.result(r, () => r.unchanged
    ? `no changes since snapshot ${r.snapshot.index} of ${r.short_id}: nothing committed`
    : `committed snapshot ${r.snapshot.index} of ${r.short_id}: layer ${r.layer.hash} (${r.layer.entries} entries, ${formatBytes(r.layer.size)} as a tar${r.added ? `; ${formatBytes(r.added.bytes)} new stored` : ''})`);
}

export function reportRestore(reporter: Reporter, logger: Logger, r: RestoreResult): void {
  for (const w of r.warnings) logger.warn(w);
  reporter.result(r, () => `restored ${r.short_id} to snapshot ${r.restored.index} (layer ${r.restored.layer.slice(0, 12)})`);
}
