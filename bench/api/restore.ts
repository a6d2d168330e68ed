/**
 * A restore under read load: readers keep hitting DB-backed routes while a restore replaces the
 * live database. The contract (README, HTTP API) is that the server keeps serving: requests that
 * hit the swap get 503 with Retry-After, nothing else fails, and the pool finds the new database
 * by itself. This phase counts every answer in the window to check exactly that.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad, type LoadSpec, type LoadStats } from './load.js';
import type { BenchServer, JobRecord } from './server.js';

export interface RestoreWindow {
  readonly snapshot_id: string;
  /** Seconds from the restore request to the job's completion, as the poller saw it. */
  readonly job_seconds: number;
  /** The restore's own account: how long the live database refused connections. */
  readonly blocked_ms: number | null;
  readonly sessions_ended: number | null;
  readonly restore_duration_ms: number | null;
  readonly loads: LoadStats[];
  readonly responses: number;
  readonly count_503: number;
  /** Non-2xx answers other than 503 (any 4xx or 5xx) plus connection errors and timeouts. */
  readonly unexpected: number;
  readonly other_5xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** First and last 503 after the restore request, in ms; null when there was none. */
  readonly window_503_ms: { readonly first: number; readonly last: number } | null;
  /** Answers the job poller itself got, by status. */
  readonly poll_status_codes: Record<string, number>;
  /** Current controls the server reports once the restore is done (must equal the snapshot's). */
  readonly controls_after: number;
}

/** Load before the restore starts and after it ends, so the window shows steady state on both sides. */
const SETTLE_MS = 2000;
const RESTORE_TIMEOUT_MS = 15 * 60_000;

export async function restoreUnderLoad(
  server: BenchServer,
  options: { snapshotId: string; adminToken: string; readerToken: string; specs: readonly LoadSpec[]; expectedControls: number },
): Promise<RestoreWindow> {
  const loads = options.specs.map((spec) => ({ spec, run: startLoad(server, spec) }));
  const loadStart = Date.now();
  const pollCodes: Record<string, number> = {};
  let job: JobRecord | undefined;
  let requestedAt = 0;
  let finishedAt = 0;
  let stats: LoadStats[] = [];
  try {
    await sleep(SETTLE_MS);
    requestedAt = Date.now();
    const accepted = await server.call('POST', `/api/v2/devdata/snapshots/${options.snapshotId}/restore`, options.adminToken, { skip_backup: true });
    if (accepted.status !== 202) throw new Error(`restore request answered ${accepted.status}: ${accepted.text}`);
    const jobId = (accepted.json as { job_id: string }).job_id;
    job = await server.waitForJob(jobId, options.readerToken, RESTORE_TIMEOUT_MS, (status) => (pollCodes[status] = (pollCodes[status] ?? 0) + 1));
    finishedAt = Date.now();
    await sleep(SETTLE_MS);
  } finally {
    // Always stop the load, also when the restore failed, so no sockets outlive the phase.
    stats = await Promise.all(loads.map((l) => l.run.stop()));
  }
  if (job.status !== 'completed') throw new Error(`restore job ${job.job_id} failed: ${job.error?.code} ${job.error?.message}`);

  const after = await server.call('GET', '/api/v2/pipelines/status', options.readerToken);
  const controlsAfter = (after.json as { current?: { controls?: number } } | undefined)?.current?.controls ?? -1;
  if (after.status !== 200 || controlsAfter !== options.expectedControls) {
    throw new Error(`after the restore the server reports ${controlsAfter} current controls (HTTP ${after.status}), expected ${options.expectedControls}`);
  }

  const sum = (f: (s: LoadStats) => number) => stats.reduce((a, s) => a + f(s), 0);
  const codeCount = (s: LoadStats, pred: (code: number) => boolean) =>
    Object.entries(s.status_codes).reduce((a, [code, n]) => a + (pred(Number(code)) ? n : 0), 0);
  const offset = requestedAt - loadStart;
  const times = loads.flatMap((l) => l.run.times503).map((t) => t - offset).sort((a, b) => a - b);
  const result = job.result ?? {};
  const num = (key: string) => (typeof result[key] === 'number' ? (result[key] as number) : null);
  const pollUnexpected = Object.entries(pollCodes).reduce((a, [code, n]) => a + (code === '200' || code === '503' ? 0 : n), 0);

  return {
    snapshot_id: options.snapshotId,
    job_seconds: Math.round((finishedAt - requestedAt) / 10) / 100,
    blocked_ms: num('blocked_ms'),
    sessions_ended: num('sessions_ended'),
    restore_duration_ms: num('duration_ms'),
    loads: stats,
    responses: sum((s) => s.requests),
    count_503: sum((s) => s.status_codes['503'] ?? 0),
    unexpected: sum((s) => codeCount(s, (c) => c >= 300 && c !== 503) + s.errors) + pollUnexpected,
    other_5xx: sum((s) => codeCount(s, (c) => c >= 500 && c !== 503)),
    errors: sum((s) => s.errors),
    timeouts: sum((s) => s.timeouts),
    window_503_ms: times.length ? { first: times[0] ?? 0, last: times[times.length - 1] ?? 0 } : null,
    poll_status_codes: pollCodes,
    controls_after: controlsAfter,
  };
}
