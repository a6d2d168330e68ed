/** How the CLI talks to people and scripts: JSON or text, progress on a terminal, confirmations. */
import { createInterface } from 'node:readline/promises';
import { NfrError, toNfrError } from '../errors.js';
import type { Progress } from '../runtime/operation.js';

export interface OutputOptions {
  readonly json?: boolean;
}

/** Prints a command's result: JSON for scripts, the human rendering otherwise. */
export function emit<T>(options: OutputOptions, result: T, human: (r: T) => string): void {
  if (options.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else {
    const text = human(result);
    if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

/** Prints an error and returns the exit code for it. */
export function reportError(err: unknown, json: boolean): number {
  const e = toNfrError(err);
  // A command that already printed its JSON result (health, verify) must not print a second document.
  if (json && e.details?.reported !== true) {
    process.stdout.write(JSON.stringify({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } }, null, 2) + '\n');
  }
  process.stderr.write(`nfr: ${e.message}\n`);
  if (e.code === 'INTERNAL' && process.env.NFR_DEBUG && e.cause instanceof Error) process.stderr.write(`${e.cause.stack ?? ''}\n`);
  return e.exitCode;
}

/** A one-line progress display on a terminal; silent when stderr is not a TTY or output is JSON. */
export function progressLine(options: OutputOptions): { update: (p: Progress) => void; done: () => void } {
  const tty = process.stderr.isTTY === true && !options.json;
  let last = '';
  let lastAt = 0;
  return {
    update(p) {
      if (!tty) return;
      const now = Date.now();
      const parts = [p.phase.padEnd(10)];
      if (p.tables_total !== undefined) parts.push(`${p.tables_done ?? 0}/${p.tables_total} tables`);
      if (p.bytes !== undefined) parts.push(formatBytes(p.bytes));
      const line = parts.join('  ');
      if (line === last || (now - lastAt < 100 && p.phase === last.split(' ')[0])) return;
      last = line;
      lastAt = now;
      process.stderr.write(`\r\x1b[2K${line}`);
    },
    done() {
      if (tty && last) process.stderr.write('\r\x1b[2K');
    },
  };
}

/**
 * Asks for confirmation on a terminal. Without a terminal (scripts, CI) there is nobody to ask,
 * so it proceeds; `--yes` skips the question on a terminal too.
 */
export async function confirm(question: string, options: { yes?: boolean; json?: boolean }): Promise<void> {
  if (options.yes || !process.stdin.isTTY || !process.stderr.isTTY) return;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') throw new NfrError('ABORTED', 'cancelled; nothing was changed');
  } finally {
    rl.close();
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A plain text table with aligned columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
