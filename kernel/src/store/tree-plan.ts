/**
 * A stored tree's native restore plan (made by tree-restore.ts) and how it travels to the
 * mapped worker: on its own, without the planner's dependencies, so the runtime backends
 * (kernel/src/runtime.ts, the exec bundle) can pass one on.
 */
/** What restoreTree needs besides where: the entries in tar order and the tar's bytes other than contents. */
export interface TreePlan {
  plan: Buffer;
  skeleton: Buffer;
  /** The layer's recorded tar (blake3, size): what the restored bytes must hash to. */
  expect: { hash: string; size: number };
  /** Entries left out of the plan as unpacker.ts leaves them out (device nodes of untrusted content), and what it says of them. */
  skipped?: { entries: number; warnings: string[] };
}

/** A plan as the mapped worker sends it (stdin): its length (u32 LE), the plan, the skeleton. */
export function planBytes(planned: TreePlan): Buffer[] {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(planned.plan.length, 0);
  return [head, planned.plan, planned.skeleton];
}

/** The plan planBytes wrote, read whole from `source`. */
export async function readPlanned(source: AsyncIterable<Uint8Array>, expect: TreePlan['expect']): Promise<TreePlan> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  const all = Buffer.concat(parts);
  const n = all.length >= 4 ? all.readUInt32LE(0) : -1;
  if (n < 0 || 4 + n > all.length) throw new Error('a truncated restore plan');
  return { plan: all.subarray(4, 4 + n), skeleton: all.subarray(4 + n), expect };
}
