/**
 * Upload sessions: a blob whose hash the client only knows once it has sent it (a tar
 * packed while it streams). `POST /v1/uploads` opens one, `PATCH` appends bytes (hashed
 * as they arrive), `PUT ?digest=` commits it under its blake3 — refused unless the bytes
 * hash to that digest — and `DELETE` drops it. Sessions live in memory with their file in
 * `tmp/`; one left idle past its lifetime is removed.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StreamHasher } from '@karapace/kernel';
import { UploadError, receiveBody, type BlobStorage } from './storage.js';

interface Session {
  id: string;
  path: string;
  hasher: StreamHasher;
  /** Who opened it: only the same token may continue it. */
  owner: string;
  touched: number;
  busy: boolean;
}

export const MAX_SESSIONS = 256;
export const SESSION_ID = /^[0-9a-f]{32}$/;

export class UploadSessions {
  private readonly sessions = new Map<string, Session>();
  /** Plain blob PUTs streaming in, per owner. */
  private readonly puts = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly storage: BlobStorage, private readonly lifetimeMs: number, private readonly maxPerOwner = MAX_SESSIONS) {
    this.sweeper = setInterval(() => void this.sweep(), Math.max(1000, Math.min(lifetimeMs, 60_000)));
    this.sweeper.unref();
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  async sweep(now = Date.now()): Promise<void> {
    for (const s of [...this.sessions.values()]) {
      if (!s.busy && now - s.touched > this.lifetimeMs) await this.drop(s.id);
    }
  }

  open(owner: string): string {
    this.admit(owner);
    const id = randomBytes(16).toString('hex');
    this.sessions.set(id, { id, path: join(this.storage.tmp, `upload-${id}`), hasher: new StreamHasher(), owner, touched: Date.now(), busy: false });
    return id;
  }

  /**
   * Holds one of `owner`'s upload slots while a plain blob PUT streams in: those count with
   * the sessions, so a token cannot get around its cap by sending blobs whole. Returns the
   * release.
   */
  holdPut(owner: string): () => void {
    this.admit(owner);
    this.puts.set(owner, (this.puts.get(owner) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = (this.puts.get(owner) ?? 1) - 1;
      if (left > 0) this.puts.set(owner, left);
      else this.puts.delete(owner);
    };
  }

  /** Refuses (429) a new upload past the server's or the owner's cap. */
  private admit(owner: string): void {
    let puts = 0;
    for (const n of this.puts.values()) puts += n;
    if (this.sessions.size + puts >= MAX_SESSIONS) throw new UploadError(429, `too many uploads in progress (at most ${MAX_SESSIONS}); try again later`);
    let own = this.puts.get(owner) ?? 0;
    for (const s of this.sessions.values()) if (s.owner === owner) own++;
    if (own >= this.maxPerOwner) {
      throw new UploadError(429, `token "${owner}" already has ${own} uploads in progress (at most ${this.maxPerOwner} per token): finish one, or commit or DELETE an upload session; sessions idle for ${Math.round(this.lifetimeMs / 1000)} s are dropped`);
    }
  }

  private get(id: string, owner: string): Session {
    const s = this.sessions.get(id);
    if (!s || s.owner !== owner) throw new UploadError(404, `no upload session ${id}`);
    if (s.busy) throw new UploadError(409, `upload session ${id} is already receiving data`);
    return s;
  }

  /** Appends a request body to the session; returns the session's size so far. */
  async append(id: string, owner: string, body: Readable, maxBytes: number): Promise<number> {
    const s = this.get(id, owner);
    s.busy = true;
    try {
      await receiveBody(body, createWriteStream(s.path, { flags: 'a', mode: 0o444, highWaterMark: 1 << 20 }), s.hasher, maxBytes, 'upload');
    } catch (err) {
      // A broken append leaves the session unusable: its hash no longer matches its file.
      await this.drop(id);
      throw err;
    } finally {
      s.busy = false;
      s.touched = Date.now();
    }
    return s.hasher.size;
  }

  /** Commits the session as blob `hash`; the session ends either way. */
  async commit(id: string, owner: string, hash: string): Promise<{ created: boolean; size: number }> {
    const s = this.get(id, owner);
    this.sessions.delete(id);
    try {
      const actual = s.hasher.digest();
      if (actual !== hash) throw new UploadError(400, `content hash mismatch: the upload hashes to ${actual}, not ${hash}`);
      // An empty upload never created its file.
      if (s.hasher.size === 0) await this.storage.writeEmpty(s.path);
      const created = await this.storage.adopt(s.path, hash);
      return { created, size: s.hasher.size };
    } finally {
      await rm(s.path, { force: true });
    }
  }

  async drop(id: string): Promise<boolean> {
    const s = this.sessions.get(id);
    if (!s) return false;
    this.sessions.delete(id);
    await rm(s.path, { force: true });
    return true;
  }

  abort(id: string, owner: string): Promise<boolean> {
    const s = this.sessions.get(id);
    if (!s || s.owner !== owner) return Promise.resolve(false);
    return this.drop(id);
  }
}
