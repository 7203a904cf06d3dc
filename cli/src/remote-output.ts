/** How `push` and `pull` report their results (shared by the commands and the start-up fast path). */
import { formatBytes, type PullResult, type PushResult } from '@karapace/kernel';
import type { Reporter } from './reporter.js';

export function reportPush(reporter: Reporter, result: PushResult): void {
  reporter.result(result, () =>
    [
      `pushed ${result.env_id.slice(0, 12)} to ${result.remote} as ${result.reference}${result.unchanged ? ' (unchanged)' : ''}`,
      `digest: blake3:${result.digest}`,
      `uploaded ${result.uploaded.blobs} blobs (${formatBytes(result.uploaded.bytes)}), skipped ${result.skipped.blobs} the remote had (${formatBytes(result.skipped.bytes)}) in ${result.seconds.toFixed(2)} s`,
    ].join('\n'),
  );
}

export function reportPull(reporter: Reporter, result: PullResult & { remote: string; reference: string }): void {
  reporter.result(result, () =>
    [
      `${result.cached ? 'already present' : 'pulled'}: ${result.env_id}`,
      `short_id: ${result.short_id}${result.name ? `  name: ${result.name}` : ''}`,
      `from ${result.remote} ${result.reference} (blake3:${result.digest.slice(0, 16)}…), ${result.blobs} blobs, ${formatBytes(result.bytes)}`,
    ].join('\n'),
  );
}
