/**
 * Transfer progress as users see it: on a terminal (a pty from `script`) a live bar with
 * bytes, rate and ETA; piped, plain lines without escape codes; with --json, JSON lines on
 * stderr counting bytes, `done` never above `total`.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';
import { WRITE_TOKEN, startTestServer, type TestServer } from './server-process.js';

const SCRIPT = '/usr/bin/script';
let server: TestServer;
let box: Sandbox;
const token = { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } };

test.before(async () => {
  server = await startTestServer();
  box = sandbox('kp-remote-progress-');
  box.write('proj/karapace.toml', mockManifest({ image: 'mock:progress', packages: ['git'] }));
  await box.json(['build', join(box.dir, 'proj'), '--name', 'romeo']);
  // Enough bytes that the transfer lasts a few redraws.
  const r = await box.run(['exec', 'romeo', '--', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do head -c 8388608 /dev/urandom > f$i; done']);
  if (r.code !== 0) throw new Error(r.stderr);
});
test.after.always(async () => {
  await server?.stop();
  if (box) rmSync(box.dir, { recursive: true, force: true });
});

/** Runs the CLI on a pty 120 columns wide; resolves with what the terminal received. */
function onPty(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT, ['-qfec', `stty cols 120 rows 40; exec ${quoted}`, '/dev/null'], { env, cwd: box.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const withPty = existsSync(SCRIPT) ? test.serial : test.serial.skip;
if (!existsSync(SCRIPT)) console.warn(`remote progress pty test skipped: ${SCRIPT} is missing (apt-get install bsdutils)`);

withPty('on a terminal, push draws a bar with bytes, rate and ETA, then a summary with the rate', async (t) => {
  const r = await onPty(['push', 'romeo', 'romeo@tty', '--remote', server.url], { ...box.env, ...token.env, TERM: 'xterm' });
  t.is(r.code, 0, r.out);
  // Redraws are "\r\x1b[2K<line>"; split them into the lines the user saw.
  const frames = r.out.split(/\r\x1b\[2K|\r?\n/).map((l) => l.trim()).filter(Boolean);
  const bar = /^push romeo@tty \(\d+\/\d+ blobs\) \[[#-]{10,30}\]\s+\d+%\s+[\d.]+ (B|KiB|MiB)\/[\d.]+ MiB\s+[\d.]+ (B|KiB|MiB|GiB)\/s\s+ETA (\d\d:\d\d|--:--)$/;
  t.true(frames.some((l) => bar.test(l)), frames.join('\n'));
  t.true(frames.some((l) => /^push romeo@tty \(\d+\/\d+ blobs\): done [\d.]+ MiB in [\d.]+s \([\d.]+ (MiB|GiB)\/s\)$/.test(l)), frames.join('\n'));
  // No bar shows more than its (estimated) total.
  for (const l of frames) {
    const m = /\s(\d+)%\s/.exec(l);
    if (m) t.true(Number(m[1]) <= 100, l);
  }
});

test.serial('piped, progress is plain lines; with --json, JSON lines on stderr in bytes, done never above total', async (t) => {
  const plain = await box.run(['push', 'romeo', 'romeo@plain', '--remote', server.url], token);
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stderr, /^push romeo@plain \(\d+\/\d+ blobs\)…$/m);
  t.false(/[\r\x1b]/.test(plain.stderr), JSON.stringify(plain.stderr));

  // A server that has none of it, so the push sends everything.
  const fresh = await startTestServer();
  t.teardown(() => fresh.stop());
  const dst = sandbox('kp-remote-progress-dst-');
  t.teardown(() => rmSync(dst.dir, { recursive: true, force: true }));
  for (const [who, args] of [[box, ['push', 'romeo', 'romeo@json', '--remote', fresh.url]], [dst, ['pull', 'romeo@json', '--remote', fresh.url]]] as const) {
    const r = await who.run([...args, '--json'], token);
    t.is(r.code, 0, r.stderr);
    const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l).progress);
    const start = events.find((e) => e.kind === 'start');
    t.is(start.unit, 'bytes');
    t.true(start.total > 60 * 1048576);
    const advances = events.filter((e) => e.kind === 'advance');
    t.true(advances.length >= 1);
    for (const e of advances) t.true(e.done <= e.total, JSON.stringify(e));
    const end = events.find((e) => e.kind === 'end');
    t.true(end.ok);
    t.regex(end.message, /MiB in [\d.]+ s \([\d.]+ (MiB|GiB)\/s\)/);
  }
});
