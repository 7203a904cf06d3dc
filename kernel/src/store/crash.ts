/**
 * Test-only crash points: with KARAPACE_TEST_CRASH_AT=<name>, the process SIGKILLs itself
 * when it reaches that point, so tests can prove recovery from a crash at every step.
 */
export function crashPoint(name: string): void {
  const wanted = process.env.KARAPACE_TEST_CRASH_AT;
  if (wanted && wanted.split(',').includes(name)) process.kill(process.pid, 'SIGKILL');
}
