/**
 * push/pull through the executable (cli/dist/bundle/karapace.cjs) take the start-up fast
 * path (bundle/remote.cjs) for karapace-servers, and print exactly what the full CLI
 * (cli/dist/bin.js) prints; everything else falls back to the full CLI.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import FastDispatch from '../../cli/dist/fast-dispatch.cjs';
import { BUNDLE, mockManifest, runBundled, sandbox, type Sandbox } from '../helpers/cli.js';
import { READ_TOKEN, WRITE_TOKEN, startTestServer, type TestServer } from '../plugins/remote-http/server-process.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.stop();
});

const bundled = (box: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}) => runBundled(box, args, { env });

/** The plugins an engine loaded, from the --verbose debug line. */
const pluginsOf = (stderr: string) => /plugins: (.*)$/m.exec(stderr)?.[1] ?? '';
/** Durations differ between two runs; nothing else may. */
const timeless = (s: string) => s.replace(/in \d+\.\d\d s( \([^)]*\/s\))?/g, 'in N s').replace(/"seconds": [\d.e-]+/g, '"seconds": N');
const opts = { json: false, verbose: false, trace: false };

test('push and pull are parsed by the dispatcher; anything unusual is left to the full parser', (t) => {
  const { dispatch } = FastDispatch;
  t.deepEqual(dispatch(['push', 'dev', 'dev@v1', '--remote', 'http://h:1', '--json']), {
    command: 'push', global: { ...opts, json: true }, options: { remote: 'http://h:1' }, positionals: { env: 'dev', reference: 'dev@v1' }, rest: [],
  });
  t.deepEqual(dispatch(['push', '--store=/s', '-v', 'dev', '--token-env', 'T']), {
    command: 'push', global: { ...opts, verbose: true, store: '/s' }, options: { tokenEnv: 'T' }, positionals: { env: 'dev' }, rest: [],
  });
  t.deepEqual(dispatch(['--trace', 'pull', '--remote=team', 'dev@blake3:00', '--name', 'mine']), {
    command: 'pull', global: { ...opts, trace: true }, options: { remote: 'team', name: 'mine' }, positionals: { reference: 'dev@blake3:00' }, rest: [],
  });
  for (const args of [['push'], ['pull'], ['push', 'a', 'b', 'c'], ['pull', 'a', 'b'], ['push', '--help'], ['pull', 'x', '-h'],
    ['push', 'dev', '--name', 'n'], ['pull', 'x', '--remote'], ['pull', 'x', '--remote', '--json'], ['pull', 'x', '--remote', 'a', '--remote', 'b'],
    ['push', 'dev', '--', 'x'], ['pull', 'x', '--unknown'], ['--remote', 'r', 'pull', 'x']]) {
    t.is(dispatch(args), undefined, args.join(' '));
  }
});

test('push and pull to a karapace-server load only the HTTP remote plugin and print what the full CLI prints', async (t) => {
  const src = sandbox('kp-fast-remote-');
  src.write('proj/karapace.toml', mockManifest({ image: 'mock:fast', packages: ['git'] }));
  await src.json(['build', join(src.dir, 'proj'), '--name', 'fast']);
  const writer = { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN };

  const pushed = await bundled(src, ['push', 'fast', 'fast@v1', '--remote', server.url, '-v'], writer);
  t.is(pushed.code, 0, pushed.stderr);
  t.regex(pluginsOf(pushed.stderr), /remote-http/);
  t.notRegex(pluginsOf(pushed.stderr), /runtime-mock|remote-oci|image-sources/);
  t.regex(pushed.stdout, /^pushed [0-9a-f]{12} to http:\/\/127\.0\.0\.1:\d+ as fast@v1\ndigest: blake3:[0-9a-f]{64}\nuploaded \d+ blobs/);

  // Pushed again: the same text and JSON from both front ends.
  for (const extra of [[], ['--json']]) {
    const fast = await bundled(src, ['push', 'fast', 'fast@v1', '--remote', server.url, ...extra], writer);
    const full = await src.run(['push', 'fast', 'fast@v1', '--remote', server.url, ...extra], { env: writer });
    t.is(fast.code, 0, fast.stderr);
    t.is(timeless(fast.stdout), timeless(full.stdout));
    t.is(timeless(fast.stderr), timeless(full.stderr));
  }

  const dst = sandbox('kp-fast-remote-dst-');
  const reader = { KARAPACE_REMOTE_TOKEN: READ_TOKEN };
  const pulled = await bundled(dst, ['pull', 'fast@v1', '--remote', server.url, '--json', '-v'], reader);
  t.is(pulled.code, 0, pulled.stderr);
  t.notRegex(pluginsOf(pulled.stderr), /runtime-mock|remote-oci/);
  const doc = JSON.parse(pulled.stdout);
  t.false(doc.cached);
  t.is(doc.name, 'fast');
  // The pulled environment works (exec loads its backend as usual).
  const ran = await dst.run(['exec', 'fast', '--', 'cat', 'var/lib/karapace-mock/packages/git']);
  t.is(ran.code, 0, ran.stderr);
  for (const extra of [[], ['--json']]) {
    const fast = await bundled(dst, ['pull', 'fast@v1', '--remote', server.url, ...extra], reader);
    const full = await dst.run(['pull', 'fast@v1', '--remote', server.url, ...extra], { env: reader });
    t.is(fast.code, 0, fast.stderr);
    t.is(fast.stdout, full.stdout);
    t.is(timeless(fast.stderr), timeless(full.stderr));
  }
});

test('errors read the same through the fast path; other remotes and help go to the full CLI', async (t) => {
  const box = sandbox('kp-fast-remote-err-');
  box.write('proj/karapace.toml', mockManifest({ image: 'mock:fasterr' }));
  await box.json(['build', join(box.dir, 'proj'), '--name', 'err']);
  const same = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const fast = await bundled(box, args, env);
    const full = await box.run(args, { env });
    t.is(fast.code, full.code, args.join(' '));
    t.is(fast.stdout, full.stdout, args.join(' '));
    t.is(timeless(fast.stderr), timeless(full.stderr), args.join(' '));
    return fast;
  };
  // Refused (401): reported by the fast path itself.
  const refused = await same(['push', 'err', 'err@v1', '--remote', server.url]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /refused the request \(401\)/);
  t.is((await same(['pull', 'nothing@v1', '--remote', server.url, '--json'], { KARAPACE_REMOTE_TOKEN: READ_TOKEN })).code, 1);
  // No remote, an unknown remote name, a bad reference, help: the full CLI answers.
  t.is((await same(['push', 'err', 'err@v1'])).code, 2);
  t.is((await same(['pull', 'x@v1', '--remote', 'team'])).code, 2);
  t.is((await same(['push', 'err', 'Not A Ref!', '--remote', server.url])).code, 2);
  t.regex((await same(['pull', '--help'])).stdout, /Pull an environment from a remote/);
  // An OCI registry (nothing listens on port 1): the full CLI, with every built-in plugin.
  const oci = await bundled(box, ['pull', 'x@v1', '--remote', 'oci+http://127.0.0.1:1/k', '-v']);
  t.is(oci.code, 1);
  t.regex(pluginsOf(oci.stderr), /remote-oci/);
  t.true(existsSync(BUNDLE));
});
