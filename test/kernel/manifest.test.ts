import test from 'ava';
import { parseManifest, ManifestError, canonicalJson } from '@karapace/kernel';
import * as T from 'typanion';
import { integerRange, isTable, manifestSchema, type Leaf, type Table } from '../../kernel/src/manifest/schema.js';

const minimal = 'manifest_version = 1\n[base]\nimage = "debian/bookworm"\n';

function problems(err: unknown): { key: string; line?: number; message: string }[] {
  return ((err as ManifestError).data?.problems ?? []) as { key: string; line?: number; message: string }[];
}

test('normalizes: trims, sorts and dedupes packages and apps, lowercases backend, sorts mounts', (t) => {
  const m = parseManifest(
    [
      'manifest_version = 1',
      '[base]',
      'image = "  debian/bookworm "',
      '[system]',
      'packages = ["git", " curl", "git", "bash"]',
      '[gui]',
      'apps = ["zed", "firefox", "zed"]',
      '[mounts]',
      'workspace = "./:/workspace"',
      'data = "~/data:/data:ro"',
      '[runtime]',
      'backend = "Mock"',
    ].join('\n'),
  );
  t.is(m.base.image, 'debian/bookworm');
  t.deepEqual(m.system.packages, ['bash', 'curl', 'git']);
  t.deepEqual(m.gui.apps, ['firefox', 'zed']);
  t.is(m.runtime.backend, 'mock');
  t.deepEqual(m.mounts.map((x) => x.label), ['data', 'workspace']);
  t.deepEqual(m.mounts[0], { label: 'data', host: '~/data', container: '/data', readOnly: true });
  t.false(m.runtime.network_isolation);
  t.deepEqual(m.hardware, { gpu: false, audio: false });
});

test('default backend is namespace, overridable by config default', (t) => {
  t.is(parseManifest(minimal).runtime.backend, 'namespace');
  t.is(parseManifest(minimal, 'k.toml', { defaultBackend: 'mock' }).runtime.backend, 'mock');
});

test('unknown key names file, line and key, with a did-you-mean', (t) => {
  const source = 'manifest_version = 1\n[base]\nimage = "x"\n[runtime]\nbackend = "mock"\nnetwork_isolaton = true\n';
  const err = t.throws(() => parseManifest(source, '/p/karapace.toml'), { instanceOf: ManifestError })!;
  t.is(err.exitCode, 2);
  const [p] = problems(err);
  t.is(p!.key, 'runtime.network_isolaton');
  t.is(p!.line, 6);
  t.regex(err.message, /\/p\/karapace\.toml:6: runtime\.network_isolaton: unknown key \(did you mean "runtime\.network_isolation"\?\)/);
});

test('unknown top-level table is reported with its line', (t) => {
  const err = t.throws(() => parseManifest(minimal + '[sytem]\npackages = []\n'), { instanceOf: ManifestError })!;
  const [p] = problems(err);
  t.is(p!.key, 'sytem');
  t.is(p!.line, 4);
  t.regex(p!.message, /did you mean "system"/);
});

test('wrong types and missing required keys are all reported at once', (t) => {
  const err = t.throws(() => parseManifest('[system]\npackages = "git"\n[hardware]\ngpu = "yes"\n'), { instanceOf: ManifestError })!;
  const keys = problems(err).map((p) => p.key).sort();
  t.deepEqual(keys, ['base.image', 'hardware.gpu', 'manifest_version', 'system.packages']);
  const pk = problems(err).find((p) => p.key === 'system.packages')!;
  t.is(pk.line, 2);
});

test('each schema leaf decides every value as its typanion validator does, and explains a refusal in its words', (t) => {
  const typanion: Record<string, Leaf> = {
    'base.image': T.isString(), 'system.packages': T.isArray(T.isString()), 'gui.apps': T.isArray(T.isString()),
    'hardware.gpu': T.isBoolean(), 'hardware.audio': T.isBoolean(), 'runtime.backend': T.isString(),
    'runtime.network_isolation': T.isBoolean(), 'runtime.home': T.isEnum(['host', 'env']),
  };
  const values: unknown[] = [
    '', 'x', 'host', 'env', 'HOST', true, false, 0, 1, -1, 1.5, NaN, null, undefined, [], ['a'], ['a', 'b'], ['a', 1], [true], [null], [['a']],
    {}, { a: 'b' }, new Date(0), 'true', 'false', Object('x'), Object(true),
  ];
  const leaves: [string, Leaf][] = [];
  const collect = (table: Table, path: string[]) => {
    for (const [k, node] of Object.entries(table)) {
      if (isTable(node)) collect(node, [...path, k]);
      else if (!integerRange(node)) leaves.push([[...path, k].join('.'), node]);
    }
  };
  collect(manifestSchema(), []);
  t.deepEqual(leaves.map(([k]) => k).sort(), Object.keys(typanion).sort());
  for (const [key, node] of leaves) {
    for (const value of values) {
      const ours: string[] = [];
      const theirs: string[] = [];
      t.is(node(value, { errors: ours }), typanion[key]!(value, { errors: theirs }), `${key} on ${String(value)}`);
      t.deepEqual(ours, theirs, `${key} on ${String(value)}: messages`);
    }
  }
});

test('manifest_version must be 1', (t) => {
  const err = t.throws(() => parseManifest('manifest_version = 2\n[base]\nimage = "x"\n'), { instanceOf: ManifestError })!;
  t.regex(err.message, /manifest_version: must be 1 \(got 2\)/);
});

test('TOML syntax errors carry the line', (t) => {
  const err = t.throws(() => parseManifest('manifest_version = 1\n[base\nimage = "x"\n', 'm.toml'), { instanceOf: ManifestError })!;
  t.regex(err.message, /m\.toml:2: \(syntax\)/);
});

test('mount specs are validated', (t) => {
  const err = t.throws(() => parseManifest(minimal + '[mounts]\nbad = "./x:relative"\nworse = "./x:/y:rx"\n"has space" = "./a:/b"\n'), { instanceOf: ManifestError })!;
  const msgs = problems(err).map((p) => `${p.key}: ${p.message}`);
  t.true(msgs.some((m) => m.startsWith('mounts.bad: the container path "relative" must be absolute')));
  t.true(msgs.some((m) => m.startsWith('mounts.worse: the mode "rx"')));
  t.true(msgs.some((m) => m.startsWith('mounts.has space: labels use')));
});

test('resource limits must be positive integers', (t) => {
  const err = t.throws(() => parseManifest(minimal + '[runtime.resource_limits]\nmemory_limit_mb = -5\ncpu_shares = 1.5\n'), { instanceOf: ManifestError })!;
  t.deepEqual(problems(err).map((p) => p.key).sort(), ['runtime.resource_limits.cpu_shares', 'runtime.resource_limits.memory_limit_mb']);
});

test('out-of-range and non-safe integers are manifest errors naming the line, the key and the allowed range', (t) => {
  const source = minimal + '[runtime.resource_limits]\nmemory_limit_mb = 99999999999999999999\ncpu_shares = 262145\n';
  const err = t.throws(() => parseManifest(source, 'big.toml'), { instanceOf: ManifestError })!;
  t.is(err.exitCode, 2);
  const byKey = Object.fromEntries(problems(err).map((p) => [p.key, p]));
  t.is(byKey['runtime.resource_limits.memory_limit_mb']!.line, 5);
  t.is(byKey['runtime.resource_limits.memory_limit_mb']!.message, 'must be an integer from 1 to 8589934591 (got 99999999999999999999)');
  t.is(byKey['runtime.resource_limits.cpu_shares']!.message, 'must be an integer from 1 to 262144 (got 262145)');
  t.regex(err.message, /^invalid manifest:\n {2}big\.toml:5: runtime\.resource_limits\.memory_limit_mb: must be an integer from 1 to 8589934591/);
  // 2^64 + 1 wraps to 1 in the TOML parser's 64-bit BigInt: still refused, shown as written.
  const wrapped = t.throws(() => parseManifest(minimal + '[runtime]\nresource_limits = { cpu_shares = 18446744073709551617 }\n'), { instanceOf: ManifestError })!;
  t.is(problems(wrapped)[0]!.message, 'must be an integer from 1 to 262144 (got 18446744073709551617)');
  const inf = t.throws(() => parseManifest(minimal + '[runtime.resource_limits]\nmemory_limit_mb = inf\n'), { instanceOf: ManifestError })!;
  t.is(problems(inf)[0]!.message, 'must be an integer from 1 to 8589934591 (got inf)');
  const version = t.throws(() => parseManifest('manifest_version = 99999999999999999999\n[base]\nimage = "x"\n'), { instanceOf: ManifestError })!;
  t.is(problems(version)[0]!.message, 'must be 1 (got 99999999999999999999)');
  // A huge integer where a string belongs is a type error, not a crash while printing it.
  const pkgs = t.throws(() => parseManifest(minimal + '[system]\npackages = [99999999999999999999]\n'), { instanceOf: ManifestError })!;
  t.is(problems(pkgs)[0]!.key, 'system.packages');
  t.notRegex(err.message + pkgs.message, /BigInt/);
  t.is(parseManifest(minimal + '[runtime.resource_limits]\nmemory_limit_mb = 8589934591\ncpu_shares = 262144\n').runtime.resource_limits.memory_limit_mb, 8589934591);
});

test('[gui] apps must be names (or clean absolute paths): they become host file names', (t) => {
  const err = t.throws(() => parseManifest(minimal + '[gui]\napps = ["../../.bashrc", "a/b", "x\\ny", ".hidden", "/usr/../etc/x", "/usr/bin/ok", "ok-1.2"]\n'), { instanceOf: ManifestError })!;
  const messages = problems(err).map((p) => `${p.key}: ${p.message}`);
  t.is(messages.length, 5, messages.join('\n'));
  t.true(messages.every((m) => m.startsWith('gui.apps: ') && m.includes('is not an app name')));
  t.true(messages[2]!.includes('"x\\ny"'), 'the newline is shown escaped');
  t.deepEqual(parseManifest(minimal + '[gui]\napps = ["/usr/bin/ok", "ok-1.2"]\n').gui.apps, ['/usr/bin/ok', 'ok-1.2']);
});

test('canonical JSON sorts keys at every level and is stable', (t) => {
  const a = canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } });
  t.is(a, '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  const m1 = parseManifest(minimal + '[system]\npackages = ["b", "a"]\n');
  const m2 = parseManifest('manifest_version = 1\n[system]\npackages = ["a", "b", "a"]\n[base]\nimage = "debian/bookworm"\n');
  t.is(canonicalJson(m1), canonicalJson(m2));
});
