/**
 * The native unpacker's tree digests (native/untar-digest.c) against the one definition of a
 * digest line, `treeDigestLine` (kernel/src/tree-digest.ts), on randomised archives: every
 * entry type (files old and new style, contiguous files, directories listed and implied,
 * symlinks, hard links to each kind, character and block devices with large numbers,
 * fifos), odd modes (set-id and sticky bits, 000, 7777, file-type bits in the mode field),
 * large owners (PAX uid/gid), names long enough for the ustar prefix, PAX and GNU long
 * names, names that sort differently by byte than by segment ('a b', 'a-b', 'a.b', 'a/…'),
 * and multi-byte UTF-8. The C side formats its lines itself (formatting them in TypeScript
 * costs a cold build too much: bench/RESULTS.md, "images, digest lines"), so this is what holds it to the
 * definition: its canonical digest must be CanonicalTree's from the reference unpacker's
 * entries, and its disk digest the kernel's digestTree walk of what it made.
 *
 * Archives with xattrs or a name above U+FFFF are mixed in: the native side hands the
 * first to the TypeScript unpacker and leaves the digests of the second to TypeScript.
 * Seeds are fixed, so a failure names an archive that can be rebuilt.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestTree, unpackTarFile, unpackTarStream } from '@karapace/kernel';
import { CanonicalTree } from '@karapace/image-sources';
import { archive, blocks, gnuLong, header, pax, type HeaderFields } from './_tar.js';

const isRoot = process.geteuid?.() === 0;

/** mulberry32: a small seeded generator, so every archive can be rebuilt from its seed. */
class Rng {
  constructor(private s: number) {}
  next(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

type Flavour = 'plain' | 'xattrs' | 'astral';

/** Pieces of names: characters below '/' (' ', '!', '-', '.') sort a directory's siblings between its children. */
const PIECES = ['a', 'b', 'A', 'Z', '0', '9', '-', '.', '_', ' ', '!', '~', 'é', '€', 'ß', 'x', 'lib', 'share'];
const LINK_TARGETS = ['../', '/abs/olute', 'with spaces', ' -> arrow', 'é€', 'x', '..', '/', 'a/b/c'];
const MODES = [0o644, 0o755, 0o600, 0o4755, 0o2755, 0o1777, 0o000, 0o7777, 0o444, 0o2711];
const bytes = (s: string) => Buffer.byteLength(s);

/** A random archive and what the native side is expected to do with it. */
function randomArchive(seed: number, flavour: Flavour): Buffer {
  const rng = new Rng(seed);
  const parts: Buffer[] = [];
  const dirs: string[] = [''];
  /** What a hard link may name: any non-directory made on disk (a device with numbers Linux cannot hold is not). */
  const linkable: string[] = [];
  const taken = new Set<string>(['']);
  const segment = (): string => {
    let s = '';
    const n = rng.chance(0.08) ? 30 + rng.int(60) : 1 + rng.int(8);
    while (bytes(s) < n) s += rng.pick(PIECES);
    return s === '.' || s === '..' || s.startsWith('.wh.') ? `${s}_` : s;
  };
  const child = (parent: string): string => {
    for (;;) {
      const p = parent ? `${parent}/${segment()}` : segment();
      if (!taken.has(p)) return p;
    }
  };
  /** A parent for a new entry: a directory already there, or one implied (never listed). */
  const parent = (): string => {
    let p = rng.pick(dirs);
    if (rng.chance(0.15)) {
      for (let depth = 1 + rng.int(2); depth > 0; depth--) {
        p = child(p);
        taken.add(p);
        dirs.push(p);
      }
    }
    return p;
  };
  const owner = (): { uid: number; gid: number; big: boolean } => {
    const one = () => (rng.chance(0.6) ? 0 : rng.chance(0.7) ? 1 + rng.int(65535) : 2097152 + rng.int(4294967294 - 2097152));
    const uid = one();
    const gid = one();
    return { uid, gid, big: uid > 0o7777777 || gid > 0o7777777 };
  };
  const mode = (typeBits: number): number => (rng.chance(0.7) ? rng.pick(MODES) : rng.int(0o10000)) | (rng.chance(0.2) ? typeBits : 0);
  let xattrsLeft = flavour === 'xattrs' ? 1 : 0;
  let astralLeft = flavour === 'astral' ? 1 : 0;

  /** Header fields and meta entries for `name` (and `linkname`), in a spelling picked at random. */
  const spell = (name: string, fields: Omit<HeaderFields, 'name'>, linkname?: string): Buffer[] => {
    const meta: [string, string][] = [];
    const out: Buffer[] = [];
    let magic: HeaderFields['magic'] = rng.chance(0.3) ? 'gnu' : 'ustar';
    const f: HeaderFields = { ...fields, name, magic };
    if (rng.chance(0.3)) f.name = `./${name}`;
    if (bytes(f.name) > 100) {
      const slash = f.name.lastIndexOf('/', f.name.length - 2);
      const prefix = slash > 0 ? f.name.slice(0, slash) : '';
      const rest = f.name.slice(slash + 1);
      if (magic === 'ustar' && prefix && bytes(prefix) <= 155 && bytes(rest) <= 100 && rng.chance(0.5)) {
        f.prefix = prefix;
        f.name = rest;
      } else if (rng.chance(0.5)) {
        out.push(gnuLong('L', f.name));
        f.name = 'stand-in';
      } else {
        meta.push(['path', f.name]);
        f.name = 'stand-in';
      }
    }
    if (linkname !== undefined) {
      if (bytes(linkname) > 100) {
        if (rng.chance(0.5)) out.push(gnuLong('K', linkname));
        else meta.push(['linkpath', linkname]);
        f.linkname = 'stand-in';
      } else f.linkname = linkname;
    }
    if ((f.uid ?? 0) > 0o7777777 || (f.gid ?? 0) > 0o7777777) {
      meta.push(['uid', String(f.uid)], ['gid', String(f.gid)]);
      f.uid = 0;
      f.gid = 0;
    }
    if (xattrsLeft && rng.chance(0.2)) {
      xattrsLeft--;
      meta.push(['SCHILY.xattr.user.test', 'value']);
    }
    if (meta.length) {
      out.push(pax(meta));
      magic = 'ustar';
      f.magic = magic;
    }
    out.push(header(f));
    return out;
  };

  const count = 25 + rng.int(40);
  for (let i = 0; i < count || xattrsLeft || astralLeft; i++) {
    const dir = parent();
    let path = child(dir);
    if (astralLeft && rng.chance(0.2)) {
      astralLeft--;
      path = `${path}\u{1F600}`;
    }
    const { uid, gid } = owner();
    const roll = rng.next();
    taken.add(path);
    if (roll < 0.2) {
      parts.push(...spell(rng.chance(0.5) ? `${path}/` : path, { type: '5', mode: mode(0o040000), uid, gid }));
      dirs.push(path);
    } else if (roll < 0.55) {
      const size = rng.chance(0.2) ? 0 : rng.chance(0.03) ? 100_000 + rng.int(1_200_000) : 1 + rng.int(3000);
      const content = Buffer.alloc(size);
      for (let j = 0; j < size; j += 97) content[j] = rng.int(256);
      const type = rng.pick(['0', '0', '0', '7', '\0']);
      parts.push(...spell(path, { type, mode: mode(0o100000), uid, gid, size }), blocks(content));
      linkable.push(path);
    } else if (roll < 0.7) {
      let target = rng.pick(LINK_TARGETS) + (rng.chance(0.5) ? segment() : '');
      if (rng.chance(0.1)) target = `${target}/${'long-target-'.repeat(10)}`;
      parts.push(...spell(path, { type: '2', mode: mode(0o120000), uid, gid }, target));
      linkable.push(path);
    } else if (roll < 0.82 && linkable.length) {
      const target = rng.pick(linkable);
      parts.push(...spell(path, { type: '1', mode: mode(0), uid, gid }, rng.chance(0.3) ? `./${target}` : target));
      linkable.push(path);
    } else {
      const type = rng.pick(['3', '4', '6']);
      const big = rng.chance(0.2);
      const devmajor = type === '6' ? 0 : big ? rng.int(0o7777777) : rng.int(4096);
      const devminor = type === '6' ? 0 : big ? rng.int(0o7777777) : rng.int(1 << 20);
      parts.push(...spell(path, { type, mode: mode(0), uid, gid, devmajor, devminor }));
      if (devmajor < 4096 && devminor < 1 << 20) linkable.push(path);
    }
  }
  return archive(...parts);
}

const CASES: [number, Flavour][] = [
  ...Array.from({ length: 60 }, (_, i) => [1000 + i, 'plain'] as [number, Flavour]),
  ...Array.from({ length: 4 }, (_, i) => [2000 + i, 'xattrs'] as [number, Flavour]),
  ...Array.from({ length: 4 }, (_, i) => [3000 + i, 'astral'] as [number, Flavour]),
];

(isRoot ? test : test.skip)('native tree digests are treeDigestLine\'s on randomised archives (every entry type, odd modes, owners, names)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-native-digests-'));
  t.teardown(() => {
    spawnSync('chmod', ['-R', 'u+rwx', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  let nativeDigests = 0;
  let entries = 0;
  for (const [seed, flavour] of CASES) {
    const tar = randomArchive(seed, flavour);
    const file = join(dir, `${seed}.tar`);
    writeFileSync(file, tar);
    const natDir = join(dir, `${seed}-native`);
    const refDir = join(dir, `${seed}-reference`);
    mkdirSync(natDir);
    const natTree = new CanonicalTree();
    const nat = await unpackTarFile(file, natDir, { whiteouts: 'apply', recordDisk: true, entriesAfterUnpack: true, treeDigests: true, onEntry: natTree.onEntry });
    // The reference: the serial TypeScript unpacker, its entries through CanonicalTree.
    const refTree = new CanonicalTree();
    const ref = await unpackTarStream([tar], refDir, { whiteouts: 'apply', onEntry: refTree.onEntry });
    entries += ref.entries;
    const canonical = refTree.digest();
    const what = `seed ${seed} (${flavour})`;
    const disk = (await digestTree(natDir)).digest;
    t.is(disk, (await digestTree(refDir)).digest, `${what}: the native and reference extractions agree`);
    if (flavour === 'xattrs') {
      t.falsy(nat.native, `${what}: handed over to the TypeScript unpacker`);
      t.is(natTree.digest().digest, canonical.digest, what);
      continue;
    }
    t.true(nat.native, `${what}: unpacked natively`);
    if (flavour === 'astral') {
      t.is(nat.treeDigests, undefined, `${what}: digests left to TypeScript`);
      t.is(natTree.digest().digest, canonical.digest, what);
      continue;
    }
    if (!nat.treeDigests || nat.treeDigests.tree !== canonical.digest) t.log(`${what}: reference listing\n${canonical.listing}`);
    t.deepEqual(nat.treeDigests, { tree: canonical.digest, disk }, `${what}: canonical and disk digests`);
    nativeDigests++;
  }
  t.is(nativeDigests, 60);
  t.log(`${CASES.length} archives, ${entries} entries`);
});
