/**
 * Write-ahead log (DESIGN §6): a multi-step operation writes `wal/<op>-<id>.json` with the
 * steps that undo it *before* each change; the next command that takes the store lock
 * runs the steps of any entry left behind (newest first) and deletes it. After its point
 * of no return an operation replaces its undo steps with forward clean-up steps, so
 * recovery finishes it instead. Every step is idempotent.
 */
import { randomHex } from '../random.js';
import { existsSync, lstatSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, unlink } from '../fs-async.js';
import { isAbsolute, join, relative } from 'node:path';
import { canonicalJson } from '../canonical-json.js';
import { hashBytes } from '../hash.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';
import { metadataPath, type StoreLayout } from './layout.js';
import { removeTree } from './remove-tree.js';
import { StoreError } from '../errors.js';

export type WalOp = 'build' | 'rebuild' | 'commit' | 'restore' | 'destroy' | 'gc' | 'pull' | 'snapshot-rm' | 'migrate';

export type WalStep =
  /** Delete a path (relative to the store root). */
  | { kind: 'remove'; path: string }
  /** If `from` exists: delete `to` and move `from` back to `to`. */
  | { kind: 'rename'; from: string; to: string }
  /** Put environment metadata back as it was (null: it did not exist). */
  | { kind: 'metadata'; env_id: string; content: string | null };

export interface WalEntry {
  version: 1;
  op: WalOp;
  id: string;
  pid: number;
  started_at: string;
  /** Steps run in reverse order on recovery. */
  steps: WalStep[];
  /** True once past the point of no return (steps are forward clean-up). */
  committed: boolean;
  checksum?: string;
}

function checksumOf(entry: WalEntry): string {
  const { checksum: _c, ...rest } = entry;
  return hashBytes(canonicalJson(rest));
}

export class WalTransaction {
  private finished = false;
  private constructor(private readonly layout: StoreLayout, readonly file: string, private entry: WalEntry) {}

  static async begin(layout: StoreLayout, op: WalOp, steps: WalStep[] = []): Promise<WalTransaction> {
    await mkdir(layout.wal, { recursive: true });
    const id = `${Date.now().toString(36)}-${randomHex(4)}`;
    const entry: WalEntry = { version: 1, op, id, pid: process.pid, started_at: new Date().toISOString(), steps, committed: false };
    const tx = new WalTransaction(layout, join(layout.wal, `${op}-${id}.json`), entry);
    await tx.flush();
    return tx;
  }

  /** Paths in steps are stored relative to the store root, so a moved store still recovers. */
  rel(path: string): string {
    return WalTransaction.rel(this.layout, path);
  }

  /** `rel` before there is a transaction: for the steps `begin` records with the entry. */
  static rel(layout: StoreLayout, path: string): string {
    return relative(layout.root, path);
  }

  /** Records how to undo the next change. Call before making it. */
  async record(...steps: WalStep[]): Promise<void> {
    this.entry = { ...this.entry, steps: [...this.entry.steps, ...steps] };
    await this.flush();
  }

  /** Point of no return: from now on recovery runs `cleanup` (forward) instead of undoing. */
  async commitPoint(cleanup: WalStep[] = []): Promise<void> {
    this.entry = { ...this.entry, steps: cleanup, committed: true };
    await this.flush();
  }

  /** The operation completed: forget the entry. */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    // unlink, not rm: fs.rm loads Node's rimraf module even for one file.
    await unlink(this.file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await fsyncDir(this.layout.wal);
  }

  /** The operation failed cleanly: undo now, as recovery would. */
  async abort(): Promise<void> {
    if (this.finished) return;
    try {
      await runSteps(this.layout, this.entry.steps);
      await this.finish();
    } catch {
      // e.g. the disk is still full: the entry stays, and the next command recovers it.
    }
  }

  private async flush(): Promise<void> {
    const stored = { ...this.entry, checksum: checksumOf(this.entry) };
    await writeFileAtomic(this.file, JSON.stringify(stored, null, 2) + '\n');
  }
}

function inside(layout: StoreLayout, rel: string): string {
  const abs = join(layout.root, rel);
  const back = relative(layout.root, abs);
  if (!rel || isAbsolute(rel) || back.startsWith('..') || isAbsolute(back) || back === '') {
    throw new Error(`WAL step path "${rel}" is outside the store`);
  }
  return abs;
}

function exists(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

async function runSteps(layout: StoreLayout, steps: WalStep[]): Promise<void> {
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i]!;
    if (step.kind === 'remove') {
      await (layout.removeTree ?? removeTree)(inside(layout, step.path));
    } else if (step.kind === 'rename') {
      const from = inside(layout, step.from);
      const to = inside(layout, step.to);
      if (exists(from)) {
        await (layout.removeTree ?? removeTree)(to);
        await rename(from, to);
      }
    } else if (step.kind === 'metadata') {
      if (!/^[0-9a-f]{64}$/.test(step.env_id)) throw new Error(`WAL step names an invalid env_id "${step.env_id}"`);
      const path = metadataPath(layout, step.env_id);
      if (step.content === null) await rm(path, { force: true });
      // Unchanged metadata is not rewritten: recovery must work on a full disk.
      else if ((await readFile(path, 'utf8').catch(() => null)) !== step.content) await writeFileAtomic(path, step.content);
    }
  }
  if (existsSync(layout.metadata)) await fsyncDir(layout.metadata);
  if (existsSync(layout.envs)) await fsyncDir(layout.envs);
}

export interface RecoveryReport {
  /** Entries rolled back (or finished, past their point of no return). */
  recovered: { op: string; id: string; committed: boolean }[];
  /** Corrupt entries moved to `wal/corrupt/`. */
  corrupt: string[];
}

function parseEntry(text: string): WalEntry | undefined {
  try {
    const e = JSON.parse(text) as WalEntry;
    if (!e || e.version !== 1 || !Array.isArray(e.steps) || typeof e.checksum !== 'string') return undefined;
    if (checksumOf(e) !== e.checksum) return undefined;
    return e;
  } catch {
    return undefined;
  }
}

/** Runs under the store lock, before the command does anything else. */
export async function recoverWal(layout: StoreLayout, warn: (message: string) => void): Promise<RecoveryReport> {
  const report: RecoveryReport = { recovered: [], corrupt: [] };
  let names: string[];
  try {
    names = (await readdir(layout.wal)).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return report;
    throw err;
  }
  const entries: { name: string; entry: WalEntry }[] = [];
  for (const name of names) {
    const path = join(layout.wal, name);
    const entry = parseEntry(await readFile(path, 'utf8'));
    if (!entry) {
      const aside = join(layout.wal, 'corrupt');
      await mkdir(aside, { recursive: true });
      await rename(path, join(aside, `${name}.${Date.now()}`));
      report.corrupt.push(name);
      warn(`corrupt write-ahead log entry ${path} moved to ${aside}; run \`karapace verify-store\` to check the store`);
      continue;
    }
    entries.push({ name, entry });
  }
  entries.sort((a, b) => (a.entry.started_at < b.entry.started_at ? 1 : -1));
  for (const { name, entry } of entries) {
    try {
      await runSteps(layout, entry.steps);
    } catch (err) {
      throw new StoreError('KP_STORE_RECOVERY_FAILED', `cannot roll back an interrupted ${entry.op} (${join(layout.wal, name)}): ${(err as Error).message}`, {
        hint: 'fix the permissions of the path named above (or remove it by hand), then run any karapace command again; `karapace verify-store` checks the result',
        cause: err,
      });
    }
    await rm(join(layout.wal, name), { force: true });
    report.recovered.push({ op: entry.op, id: entry.id, committed: entry.committed });
    warn(`${entry.committed ? 'finished' : 'rolled back'} an interrupted ${entry.op} (started ${entry.started_at}, pid ${entry.pid})`);
  }
  if (entries.length || report.corrupt.length) await fsyncDir(layout.wal);
  return report;
}
