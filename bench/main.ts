/** How every benchmark ends: exit code 0 when its run resolves, 1 with the reason on stderr when it fails. */
export function runBench(run: () => Promise<unknown>): void {
  run().then(
    () => {
      process.exitCode = 0;
    },
    (err: unknown) => {
      process.stderr.write(`bench: failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
