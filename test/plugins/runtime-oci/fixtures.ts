/**
 * Test fixtures for the oci backend: a config plugin that resolves `testdir:<abs path>` to
 * that directory ahead of other resolvers (stage -10, so these tests don't depend on the image-sources plugin), and manifests.
 */
import { spawnSync } from 'node:child_process';
import { sandbox, type Sandbox } from '../../helpers/cli.js';

/** A resolver for `testdir:/abs/path`, written as a third party would (no imports). */
export const RESOLVE_PLUGIN = `
import { createHash } from 'node:crypto';
const NAME = 'test-resolve-dir';
export default {
  name: NAME,
  apply(kernel) {
    kernel.hooks.resolve.tapPromise({ name: NAME, stage: -10 }, async (request) => {
      if (!request.image.startsWith('testdir:')) return undefined;
      const rootfs = request.image.slice('testdir:'.length);
      const digest = 'blake3:' + createHash('sha256').update(rootfs).digest('hex');
      return { reference: request.image, source: rootfs, digest, rootfs, packageManager: 'none', resolver: NAME };
    });
  },
};
`;

export function ociSandbox(options: { config?: Record<string, unknown> } = {}): Sandbox {
  const box = sandbox('kp-oci-');
  box.write('resolve-dir.mjs', RESOLVE_PLUGIN);
  box.write('.karapacerc.json', JSON.stringify({ plugins: ['./resolve-dir.mjs'], ...(options.config ?? {}) }));
  return box;
}

export function manifest(rootfs: string, opts: { backend?: string; isolated?: boolean; extra?: string } = {}): string {
  return [
    'manifest_version = 1',
    '[base]',
    `image = ${JSON.stringify(`testdir:${rootfs}`)}`,
    '[runtime]',
    `backend = ${JSON.stringify(opts.backend ?? 'oci')}`,
    `network_isolation = ${opts.isolated ? 'true' : 'false'}`,
    opts.extra ?? '',
  ].join('\n') + '\n';
}

/** Why runc cannot be used here, or undefined. */
export function runcUnavailable(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v runc || test -x /usr/sbin/runc'], { stdio: 'ignore' }).status !== 0) {
    return 'runc is not installed (apt-get install runc): the oci backend tests need it';
  }
  return undefined;
}
