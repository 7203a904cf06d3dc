// Test-only resolver: `image = "/absolute/dir"` is used as the rootfs in place (the real
// resolver for local directories is @karapace/image-sources; when it is installed it answers
// first and this tap is never asked).
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

export default {
  name: 'test-dir-image',
  apply(kernel) {
    kernel.hooks.resolve.tapPromise('test-dir-image', async (request) => {
      if (!isAbsolute(request.image) || !existsSync(request.image)) return undefined;
      const { digestTree } = await import(process.env.KARAPACE_TEST_KERNEL);
      const { digest } = await digestTree(request.image);
      const packageManager = existsSync(join(request.image, 'usr/bin/apt-get')) ? 'apt' : 'none';
      return { reference: request.image, source: request.image, digest, rootfs: request.image, packageManager, resolver: 'test-dir-image' };
    });
  },
};
