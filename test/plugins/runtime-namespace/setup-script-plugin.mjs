// Test-only package manager: the package "setup-script" runs the project's setup.sh as
// container root through the backend's install path (the same run() apt gets).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export default {
  name: 'test-setup-script',
  apply(kernel) {
    kernel.hooks.install.tapPromise('test-setup-script', async (request) => {
      if (!request.packages.includes('setup-script')) return undefined;
      const script = readFileSync(join(request.env.manifestDir, 'setup.sh'), 'utf8');
      const r = await request.run(['sh', '-c', script], { capture: true });
      if (r.exitCode !== 0) throw new Error(`setup.sh failed (${r.exitCode}): ${r.stderr ?? ''}`);
      return { packages: [{ name: 'setup-script', version: '1' }] };
    });
  },
};
