/**
 * The image identity: a canonical tree digest computed from the archive entries as they
 * stream past, not from the extracted files. Extraction depends on who extracts (only root
 * can chown, mknod, set security.* xattrs), so a digest of the disk would differ between
 * machines; the archive's headers do not.
 *
 * The lines and their order are exactly `digestTree`'s (kernel/src/tree-digest.ts):
 *   d <path> <perm> <uid>:<gid>
 *   f <path> <perm> <uid>:<gid> <size> <blake3>
 *   l <path> <perm> <uid>:<gid> -> <target>
 *   c|b|p <path> <perm> <uid>:<gid> <rdev>
 * sorted as a depth-first walk with each directory's names sorted, so a directory source
 * and its tarball agree whenever the ownership on disk matches the headers. Symlinks are
 * 777 (what Linux reports); directories an archive implies but does not list are 755 0:0;
 * hard links take their target's entry (one inode). Whiteouts are applied the way the
 * kernel's unpacker applies them, layer by layer.
 */
import { hashBytes, StreamHasher } from '../hash.js';
import { safeEntryPath } from './tar-format.js';
import { treeDigestLine } from '../tree-digest.js';
import type { ContentHashTap, UnpackEntry } from './unpack.js';

/** Content hashes already computed, by relative path. */
export interface KnownHashes {
  get(rel: string): { hash: string; size: number } | undefined;
}

interface Node {
  kind: 'd' | 'f' | 'l' | 'c' | 'b' | 'p';
  perm: number;
  uid: number;
  gid: number;
  size?: number;
  hash?: string;
  link?: string;
  rdev?: number;
}

const WHITEOUT_PREFIX = '.wh.';
const EMPTY_HASH = hashBytes('');
const OPAQUE_MARKER = '.wh..wh..opq';

/** Linux's makedev(3), kept in doubles (rdev exceeds 32 bits for big majors). */
export function makedev(major: number, minor: number): number {
  return (minor & 0xff) + (major & 0xfff) * 0x100 + Math.floor(minor / 0x100) * 0x100000 + Math.floor(major / 0x1000) * 0x100000000;
}

/** Sort key giving digestTree's order: '/' sorts before any name character. */
function sortKey(path: string): string {
  return path.replaceAll('/', '\0');
}

export class CanonicalTree {
  private readonly nodes = new Map<string, Node>();
  /** Paths the current layer created: an opaque marker keeps them. */
  private created = new Set<string>();

  /** Starts a new layer (OCI images: one call per layer, before its entries). */
  beginLayer(): void {
    this.created = new Set();
  }

  /** The `onEntry` tap for the kernel's unpacker. */
  readonly onEntry = (e: UnpackEntry): ContentHashTap | void => {
    const rel = e.path;
    if (rel === '') return;
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    this.ensureParents(parent);
    // Markers checked without slicing the name out: thousands of entries, almost none markers.
    if (rel.startsWith(WHITEOUT_PREFIX, slash + 1)) {
      const base = rel.slice(slash + 1);
      if (base === OPAQUE_MARKER) {
        const prefix = parent ? `${parent}/` : '';
        for (const path of [...this.nodes.keys()]) {
          if (!path.startsWith(prefix) || path.length === prefix.length) continue;
          const child = prefix + path.slice(prefix.length).split('/', 1)[0]!;
          if (!this.created.has(child)) this.nodes.delete(path);
        }
        return;
      }
      this.remove(parent ? `${parent}/${base.slice(WHITEOUT_PREFIX.length)}` : base.slice(WHITEOUT_PREFIX.length));
      return;
    }
    const perm = e.mode & 0o7777;
    const { uid, gid } = e;
    this.created.add(rel);
    switch (e.type) {
      case 'directory': {
        const old = this.nodes.get(rel);
        if (old && old.kind !== 'd') this.nodes.delete(rel);
        this.nodes.set(rel, { kind: 'd', perm, uid, gid });
        return;
      }
      case 'file':
      case 'contiguous-file': {
        this.remove(rel);
        const node: Node = { kind: 'f', perm, uid, gid, size: e.size };
        this.nodes.set(rel, node);
        if (e.size === 0) {
          node.hash = EMPTY_HASH;
          return;
        }
        // Hashed by the unpacker's thread that writes the file, off the parsing thread.
        return { onHash: (hash) => { node.hash = hash; } };
      }
      case 'link': {
        const target = this.nodes.get(safeEntryPath(e.linkname));
        this.remove(rel);
        // The unpacker refuses links to missing targets and directories before we matter.
        if (target && target.kind !== 'd') this.nodes.set(rel, target);
        return;
      }
      case 'symlink':
        this.remove(rel);
        this.nodes.set(rel, { kind: 'l', perm: 0o777, uid, gid, link: e.linkname });
        return;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        this.remove(rel);
        this.nodes.set(rel, {
          kind: e.type === 'fifo' ? 'p' : e.type === 'block-device' ? 'b' : 'c', perm, uid, gid,
          rdev: e.type === 'fifo' ? 0 : makedev(e.devmajor, e.devminor),
        });
        return;
      default:
        return; // the unpacker skips other types too
    }
  };

  private ensureParents(dir: string): void {
    if (!dir || this.nodes.has(dir)) return;
    const slash = dir.lastIndexOf('/');
    this.ensureParents(slash < 0 ? '' : dir.slice(0, slash));
    this.nodes.set(dir, { kind: 'd', perm: 0o755, uid: 0, gid: 0 });
    this.created.add(dir);
  }

  private remove(rel: string): void {
    const old = this.nodes.get(rel);
    if (!old) return;
    this.nodes.delete(rel);
    if (old.kind !== 'd') return;
    const prefix = `${rel}/`;
    for (const path of [...this.nodes.keys()]) if (path.startsWith(prefix)) this.nodes.delete(path);
  }

  /** Content hashes by path (what digestRootfs can reuse instead of reading the files): a view, not a copy. */
  contentHashes(): KnownHashes {
    return {
      get: (path) => {
        const n = this.nodes.get(path);
        return n?.kind === 'f' && n.hash !== undefined ? (n as { hash: string; size: number }) : undefined;
      },
    };
  }

  /**
   * The canonical digest (equal to digestTree of a faithful extraction), and the paths in
   * the order it visits them (digestRootfs can reuse it).
   */
  digest(): { digest: string; entries: number; bytes: number; order: string[]; listing: string } {
    const out = new StreamHasher();
    const lines: string[] = [];
    let bytes = 0;
    const order = [...this.nodes.keys()].map((p) => [sortKey(p), p] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, p]) => p);
    for (const rel of order) {
      const n = this.nodes.get(rel)!;
      if (n.kind === 'f') {
        if (n.hash === undefined) throw new Error(`the content of ${rel} was not seen`);
        bytes += n.size!;
        lines.push(treeDigestLine('f', rel, n.perm, n.uid, n.gid, n.size, n.hash));
      } else lines.push(treeDigestLine(n.kind, rel, n.perm, n.uid, n.gid, n.kind === 'l' ? n.link : n.rdev));
    }
    // One native call for all lines: a call per line costs more than the hashing.
    const listing = lines.join('');
    out.update(listing);
    return { digest: out.digest(), entries: order.length, bytes, order, listing };
  }
}

/** One line of a listing, split: what each kind ends with is fixed, so paths may hold spaces. */
const LINE: Record<string, RegExp> = {
  d: /^d (.*) ([0-7]+) (\d+):(\d+)()$/,
  f: /^f (.*) ([0-7]+) (\d+):(\d+)( \d+ [0-9a-f]{64})$/,
  l: /^l (.*?) (777) (\d+):(\d+)( -> .*)$/,
  p: /^p (.*) ([0-7]+) (\d+):(\d+)( \d+)$/,
  c: /^c (.*) ([0-7]+) (\d+):(\d+)( \d+)$/,
  b: /^b (.*) ([0-7]+) (\d+):(\d+)( \d+)$/,
};

export interface ListingEntry {
  kind: string;
  path: string;
  perm: number;
  uid: number;
  gid: number;
  /** The line without its owner field. */
  ownerless: string;
}

/** Parses a canonical listing (CanonicalTree.digest().listing, or digestTree's lines). */
export function parseListing(listing: string): ListingEntry[] {
  const out: ListingEntry[] = [];
  for (const line of listing.split('\n')) {
    if (!line) continue;
    const m = LINE[line[0]!]?.exec(line);
    if (!m) throw new Error(`not a tree listing line: ${JSON.stringify(line.slice(0, 80))}`);
    out.push({ kind: line[0]!, path: m[1]!, perm: Number.parseInt(m[2]!, 8), uid: Number(m[3]), gid: Number(m[4]), ownerless: `${line[0]} ${m[1]} ${m[2]}${m[5]}` });
  }
  return out;
}

/**
 * A listing without what an unprivileged extraction cannot reproduce: owners, and device
 * nodes (which a pull never creates). Two trees that agree here have the same paths,
 * types, permissions, sizes, contents and link targets.
 */
export function listingWithoutOwners(listing: string): string {
  return parseListing(listing).filter((e) => e.kind !== 'c' && e.kind !== 'b').map((e) => e.ownerless).join('\n');
}
