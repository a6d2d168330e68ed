/**
 * Runs `fn` now and then every `seconds` after each run ends (never two at once), until stopped;
 * a failed run goes to `onError` and the loop goes on. `stop()` waits for a run in progress.
 * The server's background loops (alert checks, schedule ticks) use it.
 */
export function every(seconds: number, fn: () => Promise<void>, onError: (err: unknown) => void): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const loop = () => {
    if (stopped) return;
    running = fn()
      .catch(onError)
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(loop, seconds * 1000);
        timer.unref();
      });
  };
  loop();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
