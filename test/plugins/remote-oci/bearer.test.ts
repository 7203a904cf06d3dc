/**
 * OCI bearer-token auth against a real challenge: Debian's docker-registry behind a
 * reverse proxy with a token endpoint (token-proxy.ts). The client must follow
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, get a token with its user:password,
 * and use it; wrong credentials and a read-only user are refused with clear errors.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { sandbox } from '../../helpers/cli.js';
import { builtEnv, READ, REGISTRY, startRegistry } from './registry-process.js';
import { SERVICE, startTokenProxy } from './token-proxy.js';

const hasRegistry = existsSync(REGISTRY);
if (!hasRegistry) console.warn(`remote-oci bearer tests skipped: ${REGISTRY} is missing (apt-get install docker-registry)`);
const withRegistry = hasRegistry ? test : test.skip;

const USERS = {
  kp: { password: 'bearer-pass-789', actions: ['pull', 'push'] },
  reader: { password: 'reader-pass-321', actions: ['pull'] },
};

withRegistry('bearer tokens: push and pull through a token-checking proxy; wrong password, no credentials and a read-only user are refused', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.stop());
  const proxy = await startTokenProxy(reg.port, USERS);
  t.teardown(() => proxy.stop());
  const src = await builtEnv('quebec');
  const before = await src.run(['exec', 'quebec', '--', ...READ]);
  const kp = { env: { KARAPACE_REMOTE_TOKEN: 'kp:bearer-pass-789' } };

  const pushed = await src.json(['push', 'quebec', 'quebec@v1', '--remote', proxy.url], kp);
  t.true(pushed.uploaded.blobs >= 3);
  // It was challenged, asked the realm for the service and a push scope of its repository, and
  // every request that reached the registry carried a token granting what it did.
  t.true(proxy.challenged >= 1);
  const asked = proxy.tokenRequests.filter((r) => r.status === 200);
  t.true(asked.length >= 1);
  t.true(asked.every((r) => r.user === 'kp' && r.service === SERVICE));
  t.true(asked.some((r) => r.scope === 'repository:karapace/quebec:pull,push'), JSON.stringify(asked));
  t.true(proxy.forwarded.some((f) => f.action === 'push' && f.path.startsWith('/v2/karapace/quebec/blobs/uploads/')));
  t.true(proxy.forwarded.some((f) => f.method === 'PUT' && f.path === '/v2/karapace/quebec/manifests/v1'));

  const again = await src.json(['push', 'quebec', 'quebec@v1', '--remote', proxy.url], kp);
  t.is(again.uploaded.blobs, 0);
  t.true(again.unchanged);

  // A user that may only pull gets its environment, and cannot push.
  const dst = sandbox('kp-oci-bearer-dst-');
  const pulled = await dst.json(['pull', 'quebec@v1', '--remote', proxy.url], { env: { KARAPACE_REMOTE_TOKEN: 'reader:reader-pass-321' } });
  t.is(pulled.env_id, pushed.env_id);
  t.is((await dst.run(['exec', 'quebec', '--', ...READ])).stdout, before.stdout);
  t.true(proxy.forwarded.some((f) => f.user === 'reader' && f.action === 'pull'));
  const readOnly = await src.run(['push', 'quebec', 'quebec@v2', '--remote', proxy.url], { env: { KARAPACE_REMOTE_TOKEN: 'reader:reader-pass-321' } });
  t.is(readOnly.code, 1, readOnly.stderr);
  t.regex(readOnly.stderr, /refused the request \(401\)/);
  t.false(proxy.forwarded.some((f) => f.user === 'reader' && f.action === 'push'));

  // Wrong password: the token service's refusal is named, with what to check; the password is never printed.
  const wrong = await src.run(['push', 'quebec', 'quebec@v3', '--remote', proxy.url, '--trace'], { env: { KARAPACE_REMOTE_TOKEN: 'kp:wrong-pass-000' } });
  t.is(wrong.code, 1, wrong.stderr);
  t.regex(wrong.stderr, /token service http:\/\/127\.0\.0\.1:\d+\/token of .* refused the credentials of "kp" \(401\)/);
  t.regex(wrong.stderr, /hint: check the user:password in KARAPACE_REMOTE_TOKEN/);
  t.false(wrong.stderr.includes('wrong-pass-000'));
  t.true(proxy.tokenRequests.some((r) => r.user === 'kp' && r.status === 401));

  // No credentials at all: the anonymous token request is refused too.
  const none = await src.run(['push', 'quebec', 'quebec@v4', '--remote', proxy.url], { env: { KARAPACE_REMOTE_TOKEN: '' } });
  t.is(none.code, 1, none.stderr);
  t.regex(none.stderr, /refused to issue a token without credentials \(401\)|needs a token and none was given/);

  // No write of the refused pushes reached the registry.
  t.false(proxy.forwarded.some((f) => f.action === 'push' && /\/manifests\/v[234]$/.test(f.path)));
  t.deepEqual(proxy.forwarded.filter((f) => f.action === 'push').map((f) => f.user).filter((u) => u !== 'kp'), []);
});
