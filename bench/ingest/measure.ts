/**
 * Runs a program as a child (argument array, no shell) and measures its wall time and peak
 * resident set: /proc/<pid>/status VmHWM, polled every 25 ms while it runs (the kernel keeps the
 * high-water mark, so a poll between peaks still sees the peak).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface MeasuredRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Highest VmHWM seen, in bytes (0 if /proc is not available). */
  readonly peakRssBytes: number;
  readonly seconds: number;
}

export function runMeasured(
  command: string,
  args: readonly string[],
  options: { readonly env: Readonly<Record<string, string | undefined>>; readonly cwd?: string },
): Promise<MeasuredRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env: options.env as NodeJS.ProcessEnv, cwd: options.cwd, shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = setInterval(() => {
      if (child.pid === undefined) return;
      readFile(`/proc/${child.pid}/status`, 'utf8').then(
        (s) => {
          const m = /VmHWM:\s+(\d+) kB/.exec(s);
          if (m) peak = Math.max(peak, Number(m[1]) * 1024);
        },
        () => {},
      );
    }, 25);
    child.on('error', (err) => {
      clearInterval(poll);
      reject(err);
    });
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ code: code ?? 128, stdout, stderr, peakRssBytes: peak, seconds: (performance.now() - started) / 1000 });
    });
  });
}
