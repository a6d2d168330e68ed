/**
 * Where an nfr command spends its time, seen from outside without changing nfr: /proc is polled
 * for the pg_dump/pg_restore that the nfr child starts, which splits its wall time into "before
 * the tool", "the tool" and "after the tool" (checksums, counts, swap...).
 *
 * Linux only; elsewhere the watch sees nothing and the split is reported as unknown.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ToolSpan {
  /** From spawning nfr to the tool first being seen, ms. */
  readonly before_ms: number;
  /** Tool first seen to last seen, ms. */
  readonly tool_ms: number;
}

const POLL_MS = 25;

/**
 * Starts watching for a grandchild of this process named `program` (the nfr child's dump or
 * restore). `--version` runs of the same program, which nfr makes to check versions, are ignored.
 */
export function watchTool(program: 'pg_dump' | 'pg_restore'): { stop(): ToolSpan | undefined } {
  const t0 = performance.now();
  let first: number | undefined;
  let last: number | undefined;
  const ignored = new Set<number>();
  const timer = setInterval(() => {
    const pid = findGrandchild(program, ignored);
    if (pid === undefined) return;
    const now = performance.now() - t0;
    first ??= now;
    last = now;
  }, POLL_MS);
  return {
    stop() {
      clearInterval(timer);
      if (first === undefined || last === undefined) return undefined;
      return { before_ms: Math.round(first), tool_ms: Math.round(last - first) };
    },
  };
}

function findGrandchild(program: string, ignored: Set<number>): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const parents = new Map<number, { ppid: number; comm: string }>();
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) parents.set(Number(name), stat);
  }
  for (const [pid, { ppid, comm }] of parents) {
    if (comm !== program || ignored.has(pid)) continue;
    if (parents.get(ppid)?.ppid !== process.pid) continue;
    if (readCmdline(pid).includes('--version')) {
      ignored.add(pid);
      continue;
    }
    return pid;
  }
  return undefined;
}

function readStat(pid: number): { ppid: number; comm: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself contain spaces or ')'.
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const ppid = Number(text.slice(close + 2).split(' ')[1]);
    return { ppid, comm };
  } catch {
    return undefined;
  }
}

function readCmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}
