/** The memory of a process as the kernel counts it, for the search benchmarks. */
import { readFile } from 'node:fs/promises';

const MIB = 1048576;

export interface ProcessMemory {
  /** VmHWM: the highest resident set so far, MiB. */
  readonly peak_mib: number;
  /** VmRSS now, MiB. */
  readonly rss_mib: number;
}

/** VmHWM and VmRSS of `pid` from /proc (zeros where /proc is not available). */
export async function processMemory(pid: number | undefined): Promise<ProcessMemory> {
  const status = pid === undefined ? '' : await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { peak_mib: Math.round((kib('VmHWM') * 1024) / MIB), rss_mib: Math.round((kib('VmRSS') * 1024) / MIB) };
}

