/** `GET /health` (liveness, database, index; no token) and `GET /metrics` (Prometheus text). */
import type { FastifyInstance } from 'fastify';
import { completedSnapshots } from '../../snapshot/catalog.js';
import { readEvents } from '../../snapshot/state.js';
import type { ServerDeps } from '../app.js';
import { withPoolClient } from '../db.js';
import { indexHealthProbe } from '../index-health.js';

/** `signature`: PostgreSQL's cached data signature, to tell whether the index is in sync. */
export function registerHealthRoutes(app: FastifyInstance, deps: ServerDeps, signature: () => Promise<string>): void {
  const indexHealth = indexHealthProbe(deps.config, signature);
  app.get(
    '/health',
    { schema: { summary: 'Liveness, database and vector index (no token needed); 503 when the database does not answer', security: [] } },
    async (_request, reply) => {
      const checkDatabase = async (): Promise<{ status: 'ok' | 'error'; message?: string }> => {
        try {
          await withPoolClient(deps.pool, (c) => c.query('select 1'));
          return { status: 'ok' };
        } catch (err) {
          return { status: 'error', message: (err as Error).message };
        }
      };
      const [database, index] = await Promise.all([checkDatabase(), indexHealth()]);
      // The index does not decide the status: without it only search is out of service.
      const ok = database.status === 'ok';
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', database, index, active_job: deps.runner.active?.job_id ?? null });
    },
  );

  app.get('/metrics', { config: { role: 'reader' }, schema: { summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
    const lines: string[] = [];
    const metric = (name: string, help: string, type: 'gauge' | 'counter', samples: [Record<string, string>, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) {
        const l = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',');
        lines.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 0}`);
      }
    };
    const snapshots = await completedSnapshots(deps.ctx.store);
    const latest = snapshots.reduce<number | undefined>((t, m) => Math.max(t ?? 0, Date.parse(m.completed_at)), undefined);
    metric('nfr_snapshots', 'Completed snapshots in the catalog', 'gauge', [[{}, snapshots.length]]);
    metric('nfr_snapshot_bytes', 'Bytes held by completed snapshots', 'gauge', [[{}, snapshots.reduce((s, m) => s + m.total_bytes, 0)]]);
    metric('nfr_snapshot_latest_age_seconds', 'Age of the newest completed snapshot (-1 when there is none)', 'gauge', [[{}, latest === undefined ? -1 : (Date.now() - latest) / 1000]]);
    const events = await readEvents(deps.ctx.store, 2000);
    const outcomes = new Map<string, number>();
    const durations = new Map<string, number>();
    for (const e of events) {
      const key = `${e.operation}\u0000${e.status}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      if (e.status === 'completed' && e.duration_ms !== undefined) durations.set(e.operation, e.duration_ms / 1000);
    }
    metric('nfr_snapshot_operations', 'Snapshot operations in the recent event log, by outcome', 'gauge', [...outcomes].map(([k, n]) => {
      const [operation = '', status = ''] = k.split('\u0000');
      return [{ operation, status }, n];
    }));
    metric('nfr_snapshot_last_duration_seconds', 'Duration of the last successful operation of each kind', 'gauge', [...durations].map(([operation, s]) => [{ operation }, s]));
    const jobs = await deps.jobs.list({ limit: 10_000 });
    const byOutcome = new Map<string, number>();
    for (const j of jobs) byOutcome.set(`${j.kind}\u0000${j.status}`, (byOutcome.get(`${j.kind}\u0000${j.status}`) ?? 0) + 1);
    metric('nfr_jobs', 'Jobs by kind and status', 'gauge', [...byOutcome].map(([k, n]) => {
      const [kind = '', status = ''] = k.split('\u0000');
      return [{ kind, status }, n];
    }));
    try {
      const r = await withPoolClient(deps.pool, (c) =>
        c.query<{ status: string; rows: string; n: string }>(
          'select status, coalesce(sum(rows_inserted + rows_updated), 0)::text as rows, count(*)::text as n from nfr_upload group by status',
        ),
      );
      metric('nfr_ingestion_uploads', 'Upload batches by status', 'gauge', r.rows.map((row) => [{ status: row.status }, Number(row.n)]));
      metric('nfr_ingestion_rows_written', 'Rows inserted or updated by ingestion batches, by batch status', 'gauge', r.rows.map((row) => [{ status: row.status }, Number(row.rows)]));
      metric('nfr_database_up', 'Whether the live database answered', 'gauge', [[{}, 1]]);
    } catch {
      metric('nfr_database_up', 'Whether the live database answered', 'gauge', [[{}, 0]]);
    }
    return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  });
}
