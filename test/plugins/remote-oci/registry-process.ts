/** Debian's docker-registry on 127.0.0.1 for the remote-oci tests, and an environment to push. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';

export const REGISTRY = '/usr/bin/docker-registry';
export const HTPASSWD = '/usr/bin/htpasswd';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface Registry { url: string; port: number; child: ChildProcess; stop(): Promise<void> }

export async function startRegistry(htpasswd?: string): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-oci-reg-'));
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log: { level: error }',
    'storage:',
    `  filesystem: { rootdirectory: ${join(dir, 'data')} }`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(htpasswd ? ['auth:', '  htpasswd:', '    realm: karapace-test', `    path: ${htpasswd}`] : []),
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), config + '\n');
  const child = spawn(REGISTRY, ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (r.status === 200 || r.status === 401) break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `oci+http://127.0.0.1:${port}/karapace`,
    port,
    child,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }).then(() => rmSync(dir, { recursive: true, force: true })),
  };
}

export async function builtEnv(name: string, extra = ''): Promise<Sandbox> {
  const box = sandbox('kp-oci-');
  box.write('proj/karapace.toml', mockManifest({ image: `mock:${name}`, packages: ['git'] }));
  if (extra) box.write('.karapacerc.json', extra);
  await box.json(['build', join(box.dir, 'proj'), '--name', name]);
  const r = await box.run(['exec', name, '--', 'sh', '-c', `head -c 200000 /dev/urandom > blob.bin && printf 'oci ${name}\\n' > notes.txt`]);
  if (r.code !== 0) throw new Error(r.stderr);
  return box;
}

export const READ = ['sh', '-c', 'cat var/lib/karapace-mock/packages/git notes.txt && sha256sum blob.bin'];
