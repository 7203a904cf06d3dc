#!/usr/bin/env node
/**
 * karapace-server: serves a directory as a Karapace remote (docs/remote-protocol.md).
 * Exits non-zero only when it cannot start; a bad request never stops it.
 */
import { parseArgs } from 'node:util';
import { createWriteStream } from 'node:fs';
import { DEFAULTS, startServer } from './server.js';
import { BlobStorage } from './storage.js';
import { loadTokensFile, tokenEntry, type TokenEntry } from './auth.js';

const USAGE = `usage: karapace-server --dir DIR [options]

  --dir DIR                 where blobs and references are kept (created if missing)
  --host HOST               address to listen on (default ${DEFAULTS.host})
  --port PORT               port (default ${DEFAULTS.port}; 0 picks a free one)
  --tokens FILE             tokens file: {"tokens":[{"name":"ci","token":"…","scopes":["read","write"]}]}
  --token-env VAR[=SCOPES]  a token read from environment variable VAR (scopes: read, write, rw; default rw)
  --anonymous-read          requests without a token may read
  --max-body BYTES          largest blob accepted (default ${DEFAULTS.maxBodyBytes})
  --headers-timeout MS      time a connection has to send a request's headers, from when it opens (default ${DEFAULTS.headersTimeoutMs})
  --request-timeout MS      time a client has to send a whole request (default ${DEFAULTS.requestTimeoutMs})
  --idle-timeout MS         close connections that move no byte for this long (default ${DEFAULTS.idleTimeoutMs})
  --keep-alive-timeout MS   close keep-alive connections with no new request for this long, plus 1 s (default ${DEFAULTS.keepAliveTimeoutMs})
  --max-connections N       connections kept at once; over it the oldest idle one is closed, or 503 when all are busy (default ${DEFAULTS.maxConnections})
  --max-uploads-per-token N uploads (sessions, blob PUTs) one token may have in progress (default ${DEFAULTS.maxUploadsPerToken}; more: 429)
  --log FILE                request log (JSON lines; default stderr)
  --verify                  hash every blob (loose and packed) against its name, print what does not match, and exit (1 if anything did)
`;

function fail(message: string): never {
  process.stderr.write(`karapace-server: ${message}\n`);
  process.exit(2);
}

function num(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail(`${flag} needs an integer of at least ${min}, got "${value}"`);
  return n;
}

let args;
try {
  args = parseArgs({
    options: {
      dir: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' },
      tokens: { type: 'string' }, 'token-env': { type: 'string', multiple: true }, 'anonymous-read': { type: 'boolean' },
      'max-body': { type: 'string' }, 'headers-timeout': { type: 'string' }, 'request-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' }, 'keep-alive-timeout': { type: 'string' }, 'max-connections': { type: 'string' },
      'max-uploads-per-token': { type: 'string' }, log: { type: 'string' }, verify: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (!args.dir) fail(`--dir is required\n${USAGE}`);
if (args.verify) {
  const storage = new BlobStorage(args.dir);
  try {
    await storage.init(true);
  } catch (err) {
    fail(`cannot open ${args.dir}: ${(err as Error).message}`);
  }
  const { blobs, bad } = await storage.verify();
  for (const line of bad) process.stdout.write(`bad: ${line}\n`);
  process.stdout.write(`${blobs} blobs checked, ${bad.length} bad\n`);
  process.exit(bad.length ? 1 : 0);
}

const tokens: TokenEntry[] = [];
try {
  if (args.tokens) tokens.push(...loadTokensFile(args.tokens));
  for (const spec of args['token-env'] ?? []) {
    const [variable, scopes = 'rw'] = spec.split('=');
    const secret = process.env[variable!];
    if (!secret) fail(`--token-env ${variable}: the variable is not set`);
    tokens.push(tokenEntry(variable!, secret, scopes));
  }
} catch (err) {
  fail((err as Error).message);
}
if (tokens.length === 0 && !args['anonymous-read']) fail('no tokens configured: give --tokens FILE or --token-env VAR (or --anonymous-read for a read-only mirror)');

const logStream = args.log ? createWriteStream(args.log, { flags: 'a' }) : process.stderr;
// A bug in one request must not stop the server; it is logged and the process goes on.
process.on('uncaughtException', (err) => logStream.write(JSON.stringify({ time: new Date().toISOString(), error: String(err?.stack ?? err) }) + '\n'));
process.on('unhandledRejection', (err) => logStream.write(JSON.stringify({ time: new Date().toISOString(), error: String((err as Error)?.stack ?? err) }) + '\n'));

try {
  const running = await startServer({
    dir: args.dir,
    host: args.host,
    port: num(args.port, '--port'),
    auth: { tokens, anonymousRead: args['anonymous-read'] === true },
    maxBodyBytes: num(args['max-body'], '--max-body'),
    headersTimeoutMs: num(args['headers-timeout'], '--headers-timeout'),
    requestTimeoutMs: num(args['request-timeout'], '--request-timeout'),
    idleTimeoutMs: num(args['idle-timeout'], '--idle-timeout'),
    keepAliveTimeoutMs: num(args['keep-alive-timeout'], '--keep-alive-timeout'),
    maxConnections: num(args['max-connections'], '--max-connections', 1),
    maxUploadsPerToken: num(args['max-uploads-per-token'], '--max-uploads-per-token', 1),
    log: (line) => logStream.write(line + '\n'),
  });
  // The first stdout line says where it listens (tests and scripts read it).
  process.stdout.write(`karapace-server listening on ${running.url}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (err) {
  fail(`cannot start: ${(err as Error).message}`);
}
