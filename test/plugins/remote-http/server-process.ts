/** Starts karapace-server (the real bin) on 127.0.0.1 with a tokens file, for tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../../helpers/cli.js';
import { BlobStorage } from '@karapace/remote-http/server';

export const SERVER_BIN = join(REPO, 'plugins/remote-http/dist/server/bin.js');
export const WRITE_TOKEN = 'kp-write-0123456789';
export const READ_TOKEN = 'kp-read-0123456789';

export interface TestServer {
  url: string;
  dir: string;
  logFile: string;
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** `dir`: an earlier server's directory, to start again on its data. */
export async function startTestServer(extraArgs: string[] = [], dir = mkdtempSync(join(tmpdir(), 'kp-remote-srv-'))): Promise<TestServer> {
  const tokens = join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({ tokens: [
    { name: 'writer', token: WRITE_TOKEN, scopes: ['read', 'write'] },
    { name: 'reader', token: READ_TOKEN, scopes: ['read'] },
  ] }));
  const logFile = join(dir, 'requests.log');
  const child = spawn(process.execPath, [SERVER_BIN, '--dir', join(dir, 'data'), '--port', '0', '--tokens', tokens, '--log', logFile, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`karapace-server did not start: ${err}`)), 10_000);
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on('data', (c) => (err += c));
    child.on('exit', (code) => reject(new Error(`karapace-server exited ${code}: ${err}`)));
  });
  return {
    url, dir, logFile, child,
    log: () => { try { return readFileSync(logFile, 'utf8'); } catch { return ''; } },
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Every blob a karapace-server data dir holds, loose or packed, read as the server reads them. */
export async function serverBlobs(dataDir: string): Promise<Map<string, Buffer>> {
  const storage = new BlobStorage(dataDir);
  await storage.init(true);
  const hashes = storage.hashes();
  const bytes = await storage.readBlobs(hashes);
  return new Map(hashes.map((h, i) => [h, bytes[i]!]));
}
