/**
 * The Prometheus text `GET /metrics` answers: the snapshot catalog and recent operations, jobs by
 * kind and status (every server's: they share the queue), upload batches, and whether the live
 * database answered.
 */
import type { JobStore } from '../jobs/store.js';
import type { Context } from '../runtime/context.js';
import { completedSnapshots } from '../snapshot/catalog.js';
import { readEvents } from '../snapshot/state.js';

type Samples = [Record<string, string>, number][];

export interface MetricSources {
  readonly ctx: Context;
  readonly jobs: JobStore;
  /** Runs a query on the live database (the server's pool, resilient to a restore's swap). */
  readonly queryLive: <R>(sql: string) => Promise<R[]>;
}

export async function renderMetrics({ ctx, jobs, queryLive }: MetricSources): Promise<string> {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: 'gauge' | 'counter', samples: Samples) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}`);
    }
  };
  const snapshots = await completedSnapshots(ctx.store);
  const latest = snapshots.reduce<number | undefined>((t, m) => Math.max(t ?? 0, Date.parse(m.completed_at)), undefined);
  metric('nfr_snapshots', 'Completed snapshots in the catalog', 'gauge', [[{}, snapshots.length]]);
  metric('nfr_snapshot_bytes', 'Bytes held by completed snapshots', 'gauge', [[{}, snapshots.reduce((s, m) => s + m.total_bytes, 0)]]);
  metric('nfr_snapshot_latest_age_seconds', 'Age of the newest completed snapshot (-1 when there is none)', 'gauge', [[{}, latest === undefined ? -1 : (Date.now() - latest) / 1000]]);
  const outcomes = new Map<string, { operation: string; status: string; n: number }>();
  const durations = new Map<string, number>();
  for (const e of await readEvents(ctx.store, 2000)) {
    const key = `${e.operation}\u0000${e.status}`;
    const seen = outcomes.get(key) ?? { operation: e.operation, status: e.status, n: 0 };
    outcomes.set(key, { ...seen, n: seen.n + 1 });
    if (e.status === 'completed' && e.duration_ms !== undefined) durations.set(e.operation, e.duration_ms / 1000);
  }
  metric('nfr_snapshot_operations', 'Snapshot operations in the recent event log, by outcome', 'gauge', [...outcomes.values()].map(({ n, operation, status }) => [{ operation, status }, n]));
  metric('nfr_snapshot_last_duration_seconds', 'Duration of the last successful operation of each kind', 'gauge', [...durations].map(([operation, s]) => [{ operation }, s]));
  metric('nfr_jobs', 'Jobs by kind and status', 'gauge', (await jobs.tally()).map((t) => [{ kind: t.kind, status: t.status }, t.n]));
  try {
    const rows = await queryLive<{ status: string; rows: string; n: string }>('select status, coalesce(sum(rows_inserted + rows_updated), 0)::text as rows, count(*)::text as n from nfr_upload group by status');
    metric('nfr_ingestion_uploads', 'Upload batches by status', 'gauge', rows.map((row) => [{ status: row.status }, Number(row.n)]));
    metric('nfr_ingestion_rows_written', 'Rows inserted or updated by ingestion batches, by batch status', 'gauge', rows.map((row) => [{ status: row.status }, Number(row.rows)]));
    metric('nfr_database_up', 'Whether the live database answered', 'gauge', [[{}, 1]]);
  } catch {
    metric('nfr_database_up', 'Whether the live database answered', 'gauge', [[{}, 0]]);
  }
  return lines.join('\n') + '\n';
}
