/**
 * Environments pushed to and pulled from a real OCI registry: Debian's docker-registry
 * (distribution) on 127.0.0.1, anonymous and with htpasswd basic auth.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandbox } from '../../helpers/cli.js';
import { builtEnv, HTPASSWD, READ, REGISTRY, startRegistry } from './registry-process.js';

const hasRegistry = existsSync(REGISTRY);
const hasHtpasswd = existsSync(HTPASSWD);
if (!hasRegistry || !hasHtpasswd) {
  console.warn(`remote-oci tests skipped: ${!hasRegistry ? REGISTRY : HTPASSWD} is missing (apt-get install docker-registry apache2-utils)`);
}
const withRegistry = hasRegistry ? test : test.skip;
const withAuthRegistry = hasRegistry && hasHtpasswd ? test : test.skip;

withRegistry('push to an anonymous registry, pull by tag and by digest into empty stores', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  // Chunked uploads (PATCH) for blobs above 64 KiB, monolithic below.
  const src = await builtEnv('oscar', JSON.stringify({ '@karapace/remote-oci': { chunkSize: 65536 } }));
  const before = await src.run(['exec', 'oscar', '--', ...READ]);
  const pushed = await src.json(['push', 'oscar', 'oscar@v1', '--remote', reg.url]);
  t.true(pushed.uploaded.blobs >= 3);
  t.regex(pushed.oci_digest, /^sha256:[0-9a-f]{64}$/);
  const again = await src.json(['push', 'oscar', 'oscar@v1', '--remote', reg.url]);
  t.is(again.uploaded.blobs, 0);
  t.true(again.unchanged);

  const byTag = sandbox('kp-oci-dst-');
  const pulled = await byTag.json(['pull', 'oscar@v1', '--remote', reg.url]);
  t.is(pulled.env_id, pushed.env_id);
  const after = await byTag.run(['exec', 'oscar', '--', ...READ]);
  t.is(after.stdout, before.stdout);

  const byDigest = sandbox('kp-oci-dst-');
  const pulled2 = await byDigest.json(['pull', `oscar@${pushed.oci_digest}`, '--remote', reg.url, '--name', 'copy']);
  t.is(pulled2.env_id, pushed.env_id);
  t.is((await byDigest.run(['exec', 'copy', '--', ...READ])).stdout, before.stdout);

  const missing = await byDigest.run(['pull', 'nothing@v9', '--remote', reg.url]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /not on the remote/);
});

withAuthRegistry('a registry with basic auth: refused without credentials, works with user:password', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-oci-auth-'));
  const file = join(dir, 'htpasswd');
  const made = spawnSync(HTPASSWD, ['-Bbc', file, 'kp', 'secret-pass-123']);
  t.is(made.status, 0, made.stderr?.toString());
  const reg = await startRegistry(file);
  t.teardown(() => reg.stop());
  const src = await builtEnv('papa');
  const refused = await src.run(['push', 'papa', '--remote', reg.url]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /401/);
  const wrong = await src.run(['push', 'papa', '--remote', reg.url, '--trace'], { env: { KARAPACE_REMOTE_TOKEN: 'kp:wrong-pass-456' } });
  t.is(wrong.code, 1);
  t.false(wrong.stderr.includes('wrong-pass-456'));
  const pushed = await src.json(['push', 'papa', '--remote', reg.url], { env: { KARAPACE_REMOTE_TOKEN: 'kp:secret-pass-123' } });
  t.is(pushed.reference, 'papa@latest');
  const dst = sandbox('kp-oci-dst-');
  const pulled = await dst.json(['pull', 'papa', '--remote', reg.url], { env: { KARAPACE_REMOTE_TOKEN: 'kp:secret-pass-123' } });
  t.is(pulled.env_id, pushed.env_id);
});
