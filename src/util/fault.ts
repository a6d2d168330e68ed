/**
 * Crash-test hook. When NFR_FAULT_POINT names a point the process reaches, it announces
 * `nfr-fault-point: <name>` on stderr and stops there until it is killed. The test suite uses it
 * to SIGKILL restores at exact steps and prove the live database is always whole.
 *
 * `NFR_FAULT_POINT=<name>:fail` makes the point throw instead, so a test can watch the
 * operation's own error handling run (cleanup, message, exit code) from exactly that step.
 * `NFR_FAULT_POINT=<name>:pause` stops there like the plain form, but only until the job is
 * cancelled (`signal`): the cancel tests catch a job at an exact step and cancel it there.
 *
 * `NFR_FAULT_POINT=<name>:hold` announces the point and waits there for SIGUSR2, so a test can
 * change the world (stop the object store) at exactly that step and let the operation run on.
 * Unset (the normal case) it does nothing.
 */
import { NfrError } from '../errors.js';

export async function faultPoint(name: string, signal?: AbortSignal): Promise<void> {
  const setting = process.env.NFR_FAULT_POINT;
  if (setting === `${name}:pause`) {
    process.stderr.write(`nfr-fault-point: ${name}\n`);
    if (signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const keepAlive = setInterval(() => {}, 1 << 30);
      signal?.addEventListener('abort', () => (clearInterval(keepAlive), resolve()), { once: true });
    });
    return;
  }
  if (setting === `${name}:hold`) {
    process.stderr.write(`nfr-fault-point: ${name}\n`);
    // A signal listener does not keep the process alive: a command with nothing else pending
    // (no socket, no timer) would exit here.
    const keepAlive = setInterval(() => {}, 1 << 30);
    await new Promise<void>((resolve) => process.once('SIGUSR2', () => resolve()));
    clearInterval(keepAlive);
    return;
  }
  if (setting === `${name}:fail`) {
    throw new NfrError('INTERNAL', `injected failure at fault point "${name}" (NFR_FAULT_POINT=${setting})`);
  }
  if (setting !== name) return;
  process.stderr.write(`nfr-fault-point: ${name}\n`);
  await new Promise(() => {
    setInterval(() => {}, 1 << 30);
  });
}
