/**
 * `NFR_DEBUG_TIMING=1`: every named step of a command is written to stderr with the milliseconds
 * since the process started, to see where a command's time goes (`npm run bench:cli` measures the
 * whole; this says which step). Off, a step costs one comparison.
 */
let enabled: boolean | undefined;

/** Writes `nfr: timing <ms since start> <step>` to stderr when NFR_DEBUG_TIMING=1. */
export function timing(step: string): void {
  enabled ??= process.env.NFR_DEBUG_TIMING === '1';
  if (enabled) process.stderr.write(`nfr: timing ${performance.now().toFixed(1).padStart(8)} ms ${step}\n`);
}
