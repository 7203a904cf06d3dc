/**
 * Test-only crash points: with KARAPACE_TEST_CRASH_AT=<name>, the process SIGKILLs itself
 * when it reaches that point, so tests can prove recovery from a crash at every step.
 */
export function crashPoint(name: string): void {
  const wanted = process.env.KARAPACE_TEST_CRASH_AT;
  if (wanted && wanted.split(',').includes(name)) process.kill(process.pid, 'SIGKILL');
}

/**
 * Test-only slow points: with KARAPACE_TEST_DELAY_AT=<name>:<ms>[,…], the process waits that
 * long each time it reaches the point, so tests can signal a long-running step reliably.
 */
export async function delayPoint(name: string): Promise<void> {
  const wanted = process.env.KARAPACE_TEST_DELAY_AT;
  if (!wanted) return;
  for (const item of wanted.split(',')) {
    const at = item.lastIndexOf(':');
    const ms = Number(item.slice(at + 1));
    if (item.slice(0, at) === name && ms > 0) await new Promise((r) => setTimeout(r, Math.min(ms, 60_000)));
  }
}
