/**
 * Archive fidelity against GNU tar: every archive here is unpacked by the native unpacker,
 * by the reference (TypeScript) unpacker reading the file and reading a stream, and by
 * `tar -xf`; the trees must be the same (paths as bytes, types, modes, owners, sizes,
 * contents, link targets, hard links, holes), and the canonical tree digest an image gets
 * must be digestTree of GNU tar's tree. An archive we do not read must be refused — with
 * KP_LAYER_UNSUPPORTED naming a feature docs/storage-format.md lists, the entry and its
 * offset — and never unpacked into something else. An archive GNU tar fails on must fail.
 *
 * The corpus: CPython's tarfile test archive (Debian's libpython3.11-testsuite), whole and
 * member by member (each member's original bytes with its meta entries); archives GNU tar
 * makes here (sparse files in every format it writes, long link names, hard links to long
 * names); and hand-written headers for what GNU tar no longer writes (V7, signed
 * checksums, Solaris 'X', dumpdirs, volume labels, sizes on entries without content).
 */
import anyTest, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { digestTree, KarapaceError, packTree, unpackTarFile, unpackTarStream, type UnpackFileStats } from '@karapace/kernel';
import { CanonicalTree } from '@karapace/image-sources';
import { describeTree, gnuExtract } from './_compare.js';
import { archive, entry, header, members, pax, gnuLong, withChecksum } from './_tar.js';

const TESTTAR = '/usr/lib/python3.11/test/testtar.tar';
const isRoot = process.geteuid?.() === 0;
// GNU tar and the unpacker make device nodes and set owners only as root: the comparison is a root one.
if (!isRoot) console.error('corpus.test skipped: must run as root (device nodes, owners)');
const test = isRoot ? anyTest : anyTest.skip;

/** The feature phrases docs/storage-format.md lists as not read (its "Tar features not read" section). */
function documentedUnsupported(): string[] {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/storage-format.md', import.meta.url)), 'utf8');
  const section = /### Tar features not read\n([\s\S]*?)\n#/.exec(doc)?.[1] ?? '';
  // The backticked phrases of its list (short ones are typeflags, not features).
  return [...section.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((f) => f.length >= 8);
}
const UNSUPPORTED = documentedUnsupported();

test('docs/storage-format.md lists the tar features not read', (t) => {
  t.true(UNSUPPORTED.length >= 5, UNSUPPORTED.join(', '));
});

type Via = 'native' | 'file' | 'stream';
const VIAS: Via[] = ['native', 'file', 'stream'];

interface Outcome {
  tree?: string[];
  canonical?: string;
  native?: boolean;
  error?: KarapaceError;
}

async function unpackVia(via: Via, file: string, dir: string): Promise<Outcome> {
  const tree = new CanonicalTree();
  try {
    let stats: UnpackFileStats;
    const options = { whiteouts: 'apply' as const, onEntry: tree.onEntry };
    if (via === 'stream') stats = await unpackTarStream([readFileSync(file)], dir, options);
    else stats = await unpackTarFile(file, dir, { ...options, entriesAfterUnpack: via === 'native', treeDigests: via === 'native' });
    return { tree: describeTree(dir), canonical: stats.treeDigests?.tree ?? tree.digest().digest, native: stats.native === true };
  } catch (err) {
    if (!(err instanceof KarapaceError)) throw err;
    return { error: err };
  }
}

export interface Verdict {
  refused?: { feature: string; entry: string; offset: number };
  gnuFailed?: boolean;
  /** Which paths the native unpacker did itself (not handed over). */
  native?: boolean;
}

/**
 * Unpacks `bytes` every way and with GNU tar, and asserts they agree (or that we refuse
 * with a documented feature, the same way on every path).
 */
export async function compareWithGnuTar(t: ExecutionContext, label: string, bytes: Buffer): Promise<Verdict> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-corpus-'));
  try {
    const file = join(dir, 'a.tar');
    writeFileSync(file, bytes);
    const gnuDir = join(dir, 'gnu');
    mkdirSync(gnuDir);
    const gnu = gnuExtract(file, gnuDir);
    const expected = gnu.ok ? describeTree(gnuDir) : undefined;
    const verdict: Verdict = {};
    let refusal: string | undefined;
    for (const via of VIAS) {
      const out = await unpackVia(via, file, join(dir, via));
      if (out.error) {
        const e = out.error;
        const why = `${e.code}: ${e.message}`;
        if (refusal !== undefined) t.is(why, refusal, `${label} (${via}): refused as the other paths refuse`);
        refusal = why;
        if (!gnu.ok) {
          verdict.gnuFailed = true;
          continue;
        }
        t.is(e.code, 'KP_LAYER_UNSUPPORTED', `${label} (${via}): GNU tar reads it, so only an unsupported feature may refuse it: ${why}`);
        const data = e.data as Verdict['refused'];
        t.truthy(data && UNSUPPORTED.some((f) => data.feature.startsWith(f)), `${label} (${via}): "${data?.feature}" is listed in docs/storage-format.md`);
        t.true(typeof data?.offset === 'number' && data.offset % 512 === 0 && data.offset < bytes.length, `${label}: the refusal names the offset`);
        t.true(typeof data?.entry === 'string' && data.entry.length > 0, `${label}: the refusal names the entry`);
        verdict.refused = data;
        continue;
      }
      t.true(refusal === undefined, `${label} (${via}) unpacked what another path refused: ${refusal}`);
      t.true(gnu.ok, `${label} (${via}) unpacked what GNU tar fails on: ${gnu.stderr}`);
      if (!expected) continue;
      // Only the differences, both ways (a full tree of long names drowns them).
      const ours = new Set(out.tree);
      const theirs = new Set(expected);
      t.deepEqual({ onlyOurs: out.tree!.filter((l) => !theirs.has(l)), onlyGnuTar: expected.filter((l) => !ours.has(l)) }, { onlyOurs: [], onlyGnuTar: [] }, `${label} (${via}): the tree GNU tar writes`);
      t.is(out.canonical, (await digestTree(gnuDir)).digest, `${label} (${via}): the canonical digest is digestTree of GNU tar's tree`);
      if (via === 'native') verdict.native = out.native;
    }
    return verdict;
  } finally {
    spawnSync('chmod', ['-R', 'u+rwx', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const haveTestTar = existsSync(TESTTAR);
const corpusTest = haveTestTar ? test : anyTest.skip;
if (!haveTestTar) console.error(`corpus.test: ${TESTTAR} is missing (apt-get install libpython3.11-testsuite; scripts/system-packages.txt lists it)`);

const testtarMembers = haveTestTar ? members(readFileSync(TESTTAR)) : [];
/** The members whose names are Latin-1 bytes, not UTF-8 (by their header's offset): refused. */
const NOT_UTF8 = new Set([105472, 328704, 336384, 417280, 425984]);

corpusTest('CPython testtar.tar has the members this file expects', (t) => {
  t.is(testtarMembers.length, 42); // 39 entries and 3 global PAX headers
  t.is(testtarMembers.filter((m) => NOT_UTF8.has(m.offset)).length, NOT_UTF8.size);
});

for (const m of testtarMembers) {
  corpusTest(`CPython testtar.tar, the member at ${m.offset} alone`, async (t) => {
    const v = await compareWithGnuTar(t, `testtar.tar member at ${m.offset}`, archive(m.bytes));
    if (NOT_UTF8.has(m.offset)) {
      t.is(v.refused?.feature, 'a name that is not UTF-8');
      t.is(v.refused?.offset, m.offset - m.start, 'the refusal names the entry header\'s offset');
    } else {
      t.falsy(v.refused, 'read, not refused');
    }
  });
}

corpusTest('CPython testtar.tar without its non-UTF-8 members: hard links find their long-named targets, globals apply to what follows', async (t) => {
  const readable = testtarMembers.filter((m) => !NOT_UTF8.has(m.offset)).map((m) => m.bytes);
  const together = await compareWithGnuTar(t, 'testtar.tar without its non-UTF-8 members', archive(...readable));
  t.falsy(together.refused);
  t.falsy(together.gnuFailed);
});

corpusTest('CPython testtar.tar whole: refused at its first non-UTF-8 name, on every path', async (t) => {
  const whole = await compareWithGnuTar(t, 'testtar.tar', readFileSync(TESTTAR));
  t.is(whole.refused?.feature, 'a name that is not UTF-8');
  t.is(whole.refused?.offset, 105472);
});

/** A sparse file: `regions` of data ([offset, length]) in a file of `size` bytes, the rest holes. */
function sparseFile(path: string, size: number, regions: [number, number][]): void {
  const fd = openSync(path, 'w');
  try {
    for (const [offset, length] of regions) writeSync(fd, Buffer.alloc(length, `${offset % 251}`), 0, length, offset);
  } finally {
    closeSync(fd);
  }
  spawnSync('truncate', ['-s', String(size), path]);
}

/** A tree with sparse files and long names and link names (within ustar's limits when `ustar`). */
function gnuSourceTree(root: string, ustar: boolean): void {
  const longDir = join(root, 'd'.repeat(70), 'e'.repeat(70));
  mkdirSync(longDir, { recursive: true });
  const longFile = join(longDir, 'long-named-target');
  writeFileSync(longFile, 'target of links\n');
  // Hard links: with a long name of their own, and (not in ustar: its link name field holds
  // 100 bytes) to a long name. Archived in name order: the short target comes first.
  if (ustar) {
    writeFileSync(join(root, 'a-short-target'), 'short\n');
    linkSync(join(root, 'a-short-target'), join(longDir, 'hard-link-to-a-short-name'));
    symlinkSync('t'.repeat(99), join(root, 'symlink-99'));
  } else {
    linkSync(longFile, join(longDir, 'hard-link-with-a-long-name'));
    linkSync(longFile, join(root, 'hard-link-to-a-long-name'));
    symlinkSync(`${'t'.repeat(150)}/target`, join(root, 'symlink-with-a-long-target'));
    symlinkSync(`../${'s'.repeat(120)}`, join(longDir, 'long-symlink-with-a-long-target'));
  }
  mkdirSync(join(root, 'sparse'));
  sparseFile(join(root, 'sparse/tail-hole'), 1 << 20, [[0, 4096], [300_000, 10_000]]);
  sparseFile(join(root, 'sparse/tail-data'), 510_000, [[500_000, 10_000]]);
  sparseFile(join(root, 'sparse/all-hole'), 1 << 20, []);
  // Enough regions for old GNU sparse extension headers (4 in the header, 21 per extension).
  sparseFile(join(root, 'sparse/many-regions'), 60 * 65536, Array.from({ length: 60 }, (_, i) => [i * 65536 + 512 * (i % 7), 4096] as [number, number]));
}

const FORMATS: [string, string[], boolean][] = [
  ['gnu', ['--format=gnu'], false],
  ['oldgnu', ['--format=oldgnu'], false],
  ['ustar', ['--format=ustar'], true],
  ['pax 0.0', ['--format=pax', '--sparse-version=0.0'], false],
  ['pax 0.1', ['--format=pax', '--sparse-version=0.1'], false],
  ['pax 1.0', ['--format=pax', '--sparse-version=1.0'], false],
];

for (const [name, flags, ustar] of FORMATS) {
  test(`archives GNU tar writes (${name}, --sparse): sparse files, long link names, hard links to long names`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kp-corpus-src-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const src = join(dir, 'src');
    gnuSourceTree(src, ustar);
    const file = join(dir, 'a.tar');
    // --sparse where the format has a sparse form (ustar has none: holes are stored as zeros).
    const r = spawnSync('tar', [...flags, '--sort=name', ...(ustar ? [] : ['--sparse']), '-cf', file, '-C', src, '.'], { encoding: 'utf8' });
    t.is(r.status, 0, `GNU tar writes ${name}: ${r.stderr}`);
    const verdict = await compareWithGnuTar(t, `GNU tar ${name}`, readFileSync(file));
    t.falsy(verdict.refused, `${name}: read, not refused`);
    t.falsy(verdict.gnuFailed);
    // Without its sparse files the archive is the common case: the native unpacker does it itself.
    rmSync(join(src, 'sparse'), { recursive: true });
    t.is(spawnSync('tar', [...flags, '--sort=name', '-cf', file, '-C', src, '.']).status, 0);
    const plain = await compareWithGnuTar(t, `GNU tar ${name}, no sparse files`, readFileSync(file));
    t.true(plain.native, `${name}: the native unpacker read it without handing over`);
  });
}

/** A header whose checksum is summed over signed bytes (old Sun and HP-UX tars). */
function signedChecksum(h: Buffer): Buffer {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]! >= 0x80 ? h[i]! - 256 : h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

/** Base-256 in a numeric field (GNU tar's form for values octal cannot hold). */
function base256(h: Buffer, at: number, len: number, value: number): Buffer {
  h.fill(0, at, at + len);
  h[at] = 0x80;
  for (let i = at + len - 1, v = value; i > at; i--, v = Math.floor(v / 256)) h[i] = v % 256;
  return withChecksum(h);
}

const handWritten: [string, Buffer, 'read' | 'refused'][] = [
  ['V7 headers (no magic): a file, a directory by its trailing slash, a hard link, a symlink', archive(
    entry({ name: 'v7/file', type: '\0', magic: 'v7', uid: 1000, gid: 100 }, 'v7 content\n'),
    header({ name: 'v7/dir/', type: '\0', magic: 'v7', mode: 0o750 }),
    header({ name: 'v7/hard', type: '1', magic: 'v7', linkname: 'v7/file' }),
    header({ name: 'v7/sym', type: '2', magic: 'v7', linkname: 'file' }),
  ), 'read'],
  ['signed checksums, ustar and V7', archive(
    signedChecksum(header({ name: 'signed/ünïcødé-ustar', size: 0 })),
    signedChecksum(header({ name: 'signed/ünïcødé-v7', type: '\0', magic: 'v7' })),
  ), 'read'],
  ['a Solaris X header (path, uid, mtime)', archive(
    pax([['path', 'solaris/real-name'], ['uid', '4242'], ['mtime', '1041808783.000000000']], 'X'),
    entry({ name: 'solaris/stand-in' }, 'sun\n'),
  ), 'read'],
  ['global PAX records, in force until overridden', archive(
    pax([['uid', '1234'], ['gid', '5678'], ['comment', 'global']], 'g'),
    entry({ name: 'global/a' }, 'a\n'),
    pax([['uid', '42']]),
    entry({ name: 'global/b' }, 'b\n'),
    entry({ name: 'global/c' }, 'c\n'),
  ), 'read'],
  ['sizes on entries without content (directory, symlink, hard link, fifo, device)', archive(
    entry({ name: 'sized/file' }, 'f\n'),
    header({ name: 'sized/dir', type: '5', size: 300 }),
    header({ name: 'sized/sym', type: '2', linkname: 'file', size: 700 }),
    header({ name: 'sized/hard', type: '1', linkname: 'sized/file', size: 1500 }),
    header({ name: 'sized/fifo', type: '6', size: 20 }),
    header({ name: 'sized/null', type: '3', devmajor: 1, devminor: 3, size: 9 }),
    entry({ name: 'sized/after' }, 'still read\n'),
  ), 'read'],
  ['a GNU dumpdir and a volume label', archive(
    entry({ name: 'label', type: 'V', magic: 'gnu' }, 'volume 1'),
    entry({ name: 'dumped', type: 'D', magic: 'gnu', mode: 0o711 }, 'Yfile\0Nother\0\0'),
    entry({ name: 'dumped/file' }, 'f\n'),
  ), 'read'],
  ['base-256 ids and size', archive(
    Buffer.concat([base256(base256(header({ name: 'b256/file', size: 5 }), 108, 8, 3_000_000), 124, 12, 5), Buffer.from('b256\n'), Buffer.alloc(507)]),
  ), 'read'],
  ['file entries named as directories: a header name, a GNU long name', archive(
    header({ name: 'slash/by-header/', type: '0', mode: 0o700 }),
    gnuLong('L', `slash/${'l'.repeat(120)}/`),
    header({ name: 'slash/stand-in', type: '0', mode: 0o750 }),
  ), 'read'],
  ['GNU long link names on a hard link and a symlink', archive(
    gnuLong('L', `long/${'n'.repeat(130)}`),
    entry({ name: 'long/stand-in' }, 'long target\n'),
    gnuLong('L', `long/${'h'.repeat(130)}`),
    gnuLong('K', `long/${'n'.repeat(130)}`),
    header({ name: 'long/stand-in-2', type: '1', linkname: 'long/stand-in' }),
    gnuLong('K', `${'s'.repeat(130)}/target`),
    header({ name: 'long/sym', type: '2', linkname: 'stand-in' }),
  ), 'read'],
  ['PAX linkpath on a hard link to a long name', archive(
    pax([['path', `plong/${'p'.repeat(130)}`]]),
    entry({ name: 'plong/stand-in' }, 'pax target\n'),
    pax([['path', 'plong/hard'], ['linkpath', `plong/${'p'.repeat(130)}`]]),
    header({ name: 'plong/stand-in-2', type: '1', linkname: 'plong/stand-in' }),
  ), 'read'],
  ['an unknown entry type (GNU tar makes it a regular file)', archive(entry({ name: 'odd', type: 'Q' }, 'vendor data')), 'refused'],
  ['a GNU multi-volume continuation', archive(entry({ name: 'cont', type: 'M', magic: 'gnu' }, 'tail of a file')), 'refused'],
  ['a PAX GNU sparse format GNU tar does not write (2.0)', archive(
    pax([['GNU.sparse.major', '2'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', 'sp'], ['GNU.sparse.realsize', '10']]),
    entry({ name: 'GNUSparseFile.0/sp' }, 'x'),
  ), 'refused'],
];

for (const [what, bytes, expect] of handWritten) {
  test(`hand-written headers: ${what}`, async (t) => {
    const verdict = await compareWithGnuTar(t, what, bytes);
    if (expect === 'read') {
      t.falsy(verdict.refused, 'read, not refused');
      t.falsy(verdict.gnuFailed, 'GNU tar reads it');
    } else t.truthy(verdict.refused ?? verdict.gnuFailed, 'refused');
  });
}

test('a malformed sparse map is refused as malformed, before the file is written', async (t) => {
  const bad = archive(
    pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', 'sp'], ['GNU.sparse.realsize', '100']]),
    // The map's one region ends past the real size.
    entry({ name: 'GNUSparseFile.0/sp' }, Buffer.concat([Buffer.from('1\n90\n20\n'), Buffer.alloc(504), Buffer.alloc(20, 'x')])),
  );
  for (const via of VIAS) {
    const dir = mkdtempSync(join(tmpdir(), 'kp-corpus-bad-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'a.tar'), bad);
    const out = await unpackVia(via, join(dir, 'a.tar'), join(dir, 'out'));
    t.is(out.error?.code, 'KP_LAYER_REJECTED', via);
    t.regex(out.error?.message ?? '', /sparse map region 90\+20 .* past the real size 100/);
  }
});

async function packed(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packTree(dir)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

test('what pack writes (sparse files expanded, long names and link names, hard links to long names) GNU tar and every path read back as the tree', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-corpus-pack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  gnuSourceTree(src, false);
  const bytes = await packed(src);
  t.deepEqual(await packed(src), bytes, 'deterministic');
  const verdict = await compareWithGnuTar(t, 'pack', bytes);
  t.falsy(verdict.refused);
  t.falsy(verdict.gnuFailed);
  t.true(verdict.native, 'the native unpacker reads what pack writes itself');
  // GNU tar's extraction is the source tree, sparse files written out in full (pack stores their holes as zeros).
  const out = join(dir, 'gnu');
  mkdirSync(out);
  writeFileSync(join(dir, 'pack.tar'), bytes);
  t.true(gnuExtract(join(dir, 'pack.tar'), out).ok);
  const withoutHoles = (lines: string[]) => lines.map((l) => l.replace(/ holes( = |$)/, '$1'));
  t.deepEqual(describeTree(out), withoutHoles(describeTree(src)));
});
