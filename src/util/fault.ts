/**
 * Crash-test hook. When NFR_FAULT_POINT names a point the process reaches, it announces
 * `nfr-fault-point: <name>` on stderr and stops there until it is killed. The test suite uses it
 * to SIGKILL restores at exact steps and prove the live database is always whole. Unset (the
 * normal case) it does nothing.
 */
export async function faultPoint(name: string): Promise<void> {
  if (process.env.NFR_FAULT_POINT !== name) return;
  process.stderr.write(`nfr-fault-point: ${name}\n`);
  await new Promise(() => {
    setInterval(() => {}, 1 << 30);
  });
}
