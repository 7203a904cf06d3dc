/**
 * The worker a backend runs inside an environment's id mapping (`node mapped-worker.js JOB`,
 * see ./types.ts): the kernel's own packer, unpacker, remover and diff scanner, so ids and
 * bytes are exactly what the in-process path would produce. The tar goes out on stdout
 * (pack) or comes in on stdin (unpack; a tree restore's plan too); the reply is one JSON document on fd 3.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { MappedResult, WorkerJob, WorkerReply } from './types.js';

async function run(job: WorkerJob): Promise<MappedResult> {
  switch (job.kind) {
    case 'pack': {
      const { packTree } = await import('../layers/pack.js');
      const stats = { entries: 0, contentBytes: 0 };
      // Fresh buffers: stdout may still hold a chunk when the next one is produced.
      for await (const chunk of packTree(job.dir, { stats })) {
        if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
      }
      await new Promise<void>((resolve) => process.stdout.end(resolve));
      return { kind: 'pack', stats };
    }
    case 'unpack': {
      const { unpackTarStream } = await import('../layers/unpack.js');
      return { kind: 'unpack', stats: await unpackTarStream(process.stdin, job.dir, { whiteouts: job.whiteouts, owners: true, ...(job.untrusted ? { untrusted: true } : {}) }) };
    }
    case 'restore-tree': {
      const { readPlanned } = await import('../store/tree-plan.js');
      const { restorePlanned } = await import('../store/tree-restore.js');
      const planned = await readPlanned(process.stdin, job.expect);
      const stats = await restorePlanned(job.objects, job.dir, planned, { whiteouts: job.whiteouts, owners: true, ...(job.untrusted ? { untrusted: true } : {}) });
      return { kind: 'restore-tree', stats: stats ?? null };
    }
    case 'remove': {
      const { removeTree } = await import('../store/remove-tree.js');
      await removeTree(job.path);
      return { kind: 'remove' };
    }
    case 'scan': {
      const { readIdMap, scanSignatures } = await import('../engine/diff-scan.js');
      const entries = [...(await scanSignatures(job.dir))];
      return { kind: 'scan', entries, uidMap: readIdMap('/proc/self/uid_map'), gidMap: readIdMap('/proc/self/gid_map') };
    }
  }
}

async function reply(message: WorkerReply): Promise<void> {
  const out = createWriteStream('', { fd: 3 });
  out.end(JSON.stringify(message));
  await once(out, 'finish');
}

const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
try {
  await reply({ ok: true, result: await run(job) });
} catch (err) {
  const e = err as { code?: unknown; message?: unknown; hint?: unknown };
  await reply({
    ok: false,
    error: {
      message: typeof e?.message === 'string' ? e.message : String(err),
      ...(typeof e?.code === 'string' ? { code: e.code } : {}),
      ...(typeof e?.hint === 'string' ? { hint: e.hint } : {}),
    },
  });
  process.exitCode = 1;
}
