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
    if (this.sessions.size >= MAX_SESSIONS) throw new UploadError(429, `too many uploads in progress (at most ${MAX_SESSIONS}); try again later`);
    let own = 0;
    for (const s of this.sessions.values()) if (s.owner === owner) own++;
    if (own >= this.maxPerOwner) {
      throw new UploadError(429, `token "${owner}" already has ${own} upload sessions open (at most ${this.maxPerOwner} per token): commit or DELETE one first; sessions idle for ${Math.round(this.lifetimeMs / 1000)} s are dropped`);
    }
    const id = randomBytes(16).toString('hex');
    this.sessions.set(id, { id, path: join(this.storage.tmp, `upload-${id}`), hasher: new StreamHasher(), owner, touched: Date.now(), busy: false });
    return id;
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
