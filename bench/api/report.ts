/** The human report (a table per phase, PASS/FAIL) and the machine-readable `RESULT {json}` line. */
import type { Dataset } from './dataset.js';
import type { LoadStats } from './load.js';
import type { RestoreWindow } from './restore.js';

export interface BenchResult {
  readonly controls: number;
  readonly seconds_per_route: number;
  readonly connections: number;
  readonly load_seconds: Record<string, number>;
  readonly snapshot_bytes: number;
  readonly routes: LoadStats[];
  readonly restore: RestoreWindow;
  readonly target: { readonly description: string; readonly pass: boolean };
}

function pad(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ')).join('\n');
}

function codes(s: LoadStats): string {
  return Object.entries(s.status_codes)
    .map(([code, n]) => `${code}:${n}`)
    .join(' ');
}

function routeTable(stats: readonly LoadStats[]): string {
  const header = ['ROUTE', 'CONN', 'REQUESTS', 'REQ/S', 'P50 ms', 'P99 ms', 'MAX ms', 'NON-2XX', 'ERRORS', 'SERVER CPU', 'STATUS CODES'];
  const rows = stats.map((s) => [
    s.name,
    String(s.connections),
    String(s.requests),
    s.req_per_s.toFixed(1),
    String(s.p50_ms),
    String(s.p99_ms),
    String(s.max_ms),
    String(s.non_2xx),
    `${s.errors}${s.timeouts ? ` (${s.timeouts} t/o)` : ''}`,
    s.server_cpu_pct === null ? '-' : `${s.server_cpu_pct}%`,
    codes(s),
  ]);
  return pad([header, ...rows]);
}

export function printReport(r: BenchResult, dataset: Dataset): string {
  const w = r.restore;
  const lines = [
    `API load benchmark: ${r.controls} controls, ${r.connections} connections, ${r.seconds_per_route} s per route`,
    `  loaded through nfr in ${Object.entries(dataset.seconds).map(([k, v]) => `${k} ${v} s`).join(', ')}; snapshot ${dataset.snapshotId} ${(dataset.snapshotBytes / 1048576).toFixed(1)} MiB`,
    '',
    routeTable(r.routes),
    '  SERVER CPU: the nfr serve process over the run, % of one core (PostgreSQL and autocannon share the same cores)',
    '',
    `restore of ${w.snapshot_id} under load (skip_backup): job ${w.job_seconds} s, restore ${w.restore_duration_ms ?? '?'} ms, live database blocked ${w.blocked_ms ?? '?'} ms, ${w.sessions_ended ?? '?'} session(s) ended`,
    routeTable(w.loads),
    '  (both loads ran at once: SERVER CPU is the whole server over the window)',
    `  responses ${w.responses}, 503s ${w.count_503}${w.window_503_ms ? ` (from +${w.window_503_ms.first} ms to +${w.window_503_ms.last} ms after the restore request)` : ''}, other 5xx ${w.other_5xx}, connection errors ${w.errors} (timeouts ${w.timeouts})`,
    `  job poller: ${Object.entries(w.poll_status_codes).map(([c, n]) => `${c}:${n}`).join(' ')}; controls after restore ${w.controls_after}`,
    ...w.loads.flatMap((s) => (s.error_samples.length ? [`  ${s.name} errors: ${s.error_samples.join('; ')}`] : [])),
    '',
    `target: ${r.target.description}: ${r.target.pass ? 'PASS' : 'FAIL'} (${w.unexpected} unexpected)`,
    '',
    `RESULT ${JSON.stringify(r)}`,
    '',
  ];
  return lines.join('\n');
}
