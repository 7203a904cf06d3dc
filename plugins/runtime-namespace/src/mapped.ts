/**
 * The `mapped` hook for environments this backend runs with full subordinate-id mapping:
 * store work (pack, unpack, remove, diff scan) on their files runs inside the same id
 * mapping — the launcher with `--map-mode full --uid 0` over the host's root, read-only,
 * like `podman unshare` — as the kernel's own worker script under the host's node. There
 * container root has capabilities over every mapped id, so private files are readable,
 * foreign directories removable, and ids are the ones the environment sees. The tar
 * streams over stdout (pack) or stdin (unpack; a tree restore's plan too, its objects bound
 * read-only); the store side hashes and stores it.
 */
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  invokingUser, mappedWorkerPath, planBytes, StoreError,
  type MappedRequest, type MappedResult, type WorkerJob, type WorkerReply,
} from '@karapace/kernel';
import { buildHostMappingArgv } from './argv.js';
import { asOwnedBase } from './base-owners.js';
import { chooseMapMode, idFacts } from './ids.js';
import { launcherPath, requireLauncher } from './launcher.js';
import type { NamespaceOptions } from './options.js';

/** Where the host directory holding the operation's path is bound inside (on a fresh tmpfs). */
const INSIDE = '/tmp/karapace-mapped';
/** Where a tree restore's store directory (objects/ and packs/) is bound inside, read-only. */
const OBJECTS = '/tmp/karapace-objects';

function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  return new Promise((resolve) => {
    if (!stream) return resolve('');
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (text += c));
    stream.on('end', () => resolve(text));
    stream.on('error', () => resolve(text));
  });
}

async function feed(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, stdin: NodeJS.WritableStream): Promise<void> {
  for await (const chunk of source) {
    // Wait until the pipe took the chunk: the store's reader reuses its buffers.
    await new Promise<void>((resolve, reject) => stdin.write(chunk, (err) => (err ? reject(err) : resolve())));
  }
  await new Promise<void>((resolve) => stdin.end(resolve));
}

/**
 * The directory the worker's code and dependencies live in (the nearest ancestor with a
 * node_modules), when it lies under /tmp.
 */
function installUnderTmp(worker: string): string[] {
  const real = realpathSync(worker);
  if (!real.startsWith('/tmp/')) return [];
  for (let dir = dirname(real); dir !== '/tmp' && dir !== '/'; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return [dir];
  }
  return [dirname(real)];
}

export async function runMapped(request: MappedRequest, options: NamespaceOptions): Promise<MappedResult | undefined> {
  const { env, op } = request;
  if (env.backend !== 'namespace') return undefined;
  if (chooseMapMode(idFacts(invokingUser()), options.idMapping) !== 'full') return undefined;
  const hostPath = op.kind === 'remove' ? op.path : op.dir;
  const parent = dirname(hostPath);
  if (op.kind === 'remove' && !existsSync(parent)) return { kind: 'remove' };
  const inside = `${INSIDE}/${basename(hostPath)}`;
  const untrusted = 'untrusted' in op && op.untrusted ? { untrusted: true } : {};
  const job: WorkerJob = op.kind === 'unpack' ? { kind: 'unpack', dir: inside, whiteouts: op.whiteouts, ...untrusted }
    : op.kind === 'restore-tree' ? { kind: 'restore-tree', dir: inside, objects: OBJECTS, expect: op.planned.expect, whiteouts: op.whiteouts, ...untrusted }
    : op.kind === 'remove' ? { kind: 'remove', path: inside } : { kind: op.kind, dir: inside };
  const launcher = requireLauncher(launcherPath(options.launcher));
  // The host's root read-only (node and the kernel come from there); the directory holding
  // the path bound writable on the fresh /tmp. karapace itself installed under /tmp (a
  // checkout, a CI clone) would be hidden by that tmpfs: bound back, read-only, at its path.
  const worker = mappedWorkerPath();
  const binds = [
    { source: parent, target: INSIDE },
    ...(op.kind === 'restore-tree' ? [{ source: op.objects, target: OBJECTS, readOnly: true }] : []),
    ...installUnderTmp(worker).map((dir) => ({ source: dir, target: dir, readOnly: true })),
  ];
  const argv = buildHostMappingArgv(binds, [process.execPath, worker, JSON.stringify(job)]);
  const input = op.kind === 'unpack' ? op.source : op.kind === 'restore-tree' ? planBytes(op.planned) : undefined;
  const child = spawn(launcher, argv, { stdio: [input ? 'pipe' : 'ignore', op.kind === 'pack' ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  // EPIPE when the worker gave up early: its reply says why.
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  const stderr = collect(child.stderr);
  const replyText = collect(child.stdio[3] as NodeJS.ReadableStream);
  let streamError: unknown;
  try {
    if (op.kind === 'pack') await op.consume(child.stdout!);
    if (input) await feed(input, child.stdin!);
  } catch (err) {
    streamError = err;
    child.kill('SIGKILL');
  }
  const [code, errText, raw] = await Promise.all([exited, stderr, replyText]);
  let reply: WorkerReply | undefined;
  try {
    reply = raw ? (JSON.parse(raw) as WorkerReply) : undefined;
  } catch {
    reply = undefined;
  }
  // The worker's own error says most; a stream error of ours (disk full, corrupt object) next.
  if (reply && !reply.ok) {
    throw new StoreError(reply.error.code ?? 'KP_MAPPED_FAILED', `${op.kind} of ${hostPath} inside the id mapping of ${env.shortId} failed: ${reply.error.message}`, {
      hint: reply.error.hint ?? 'run `karapace doctor` to check the subordinate id ranges and the launcher',
      data: { path: hostPath },
    });
  }
  if (streamError) throw streamError;
  if (code !== 0 || !reply) {
    throw new StoreError('KP_MAPPED_FAILED', `${op.kind} of ${hostPath} inside the id mapping of ${env.shortId} failed (exit ${code}): ${errText.trim() || 'no reply from the worker'}`, {
      hint: 'run `karapace doctor` to check the subordinate id ranges and the launcher',
      data: { path: hostPath, exitCode: code },
    });
  }
  const result = reply.result;
  // Base files the user extracted are root's in the env (its owned copy of the base).
  if (result.kind === 'scan' && result.uidMap && result.gidMap) {
    const user = invokingUser();
    return { ...result, uidMap: asOwnedBase(result.uidMap, user.uid), gidMap: asOwnedBase(result.gidMap, user.gid) };
  }
  return result;
}
