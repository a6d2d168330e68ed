/**
 * What `GET /metrics` answers, through prom-client, in a registry of each server's own (tests run
 * several servers in one process; the global default registry would mix them up).
 *
 * Adding a metric is one entry in one of two places here:
 * - a value read when Prometheus scrapes (the catalog, the queue, a table): an entry of
 *   SCRAPED_GAUGES, reading from the `Scrape` (add a memoised read to it if several share one);
 * - something counted as it happens (a request, a job ending): a field of ServerMetrics, created
 *   in its constructor with `registers: [this.registry]`, and observed where it happens.
 * Names and labels follow Prometheus' guidelines: `nfr_` prefix, base units in the name
 * (`_seconds`, `_bytes`), `_total` only on counters. prom-client escapes label values.
 */
import { statfs } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { JOB_OPERATION, type JobKind, type JobStore } from '../jobs/store.js';
import type { Context } from '../runtime/context.js';
import { completedSnapshots } from '../snapshot/catalog.js';
import { readEvents } from '../snapshot/state.js';

export interface MetricSources {
  readonly ctx: Context;
  readonly jobs: JobStore;
  /** Runs a query on the live database (the server's pool, resilient to a restore's swap). */
  readonly queryLive: <R>(sql: string) => Promise<R[]>;
  /** Each schedule's last successful run (schedules/store.ts), when the server runs schedules. */
  readonly schedules?: () => Promise<readonly { readonly name: string; readonly last_success_at: string | null; readonly paused: boolean }[]>;
  /** Alert conditions firing now (alerts/watcher.ts). */
  readonly firingAlerts?: () => Promise<readonly { readonly key: string; readonly severity: string }[]>;
}

type Labels = Record<string, string>;
type Samples = readonly (readonly [Labels, number])[];

/** What one scrape reads, each source at most once however many metrics use it. */
export class Scrape {
  constructor(readonly sources: MetricSources) {}

  readonly snapshots = once(() => completedSnapshots(this.sources.ctx.store));
  readonly events = once(() => readEvents(this.sources.ctx.store, 2000));
  readonly jobTally = once(() => this.sources.jobs.tally());
  readonly schedules = once(async () => (await this.sources.schedules?.()) ?? []);
  readonly firingAlerts = once(async () => (await this.sources.firingAlerts?.()) ?? []);
  /** The backup volume (POSTGRES_BACKUP_PATH's file system), as df counts it (see snapshot/health.ts). */
  readonly volume = once(async () => {
    const fs = await statfs(this.sources.ctx.store.root);
    const used = (fs.blocks - fs.bfree) * fs.bsize;
    const free = fs.bavail * fs.bsize;
    return { used, free, size: fs.blocks * fs.bsize, ratio: used + free > 0 ? used / (used + free) : 0 };
  });
  /** Upload batches by status, from the control database where they are recorded (ingest/upload-records.ts). */
  readonly uploads = once(() =>
    this.sources.jobs.pool
      .query<{ status: string; rows: string; n: string }>('select status, coalesce(sum(rows_inserted + rows_updated), 0)::text as rows, count(*)::text as n from nfr_upload group by status')
      .then((r) => r.rows)
      .catch(() => undefined),
  );
  /** Whether the live database answers. */
  readonly liveUp = once(() =>
    this.sources
      .queryLive('select 1')
      .then(() => true)
      .catch(() => false),
  );
}

export interface ScrapedGauge {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly read: (scrape: Scrape) => Promise<Samples>;
}

/** Gauges read at each scrape. Their names are stable: dashboards and alert rules use them. */
export const SCRAPED_GAUGES: readonly ScrapedGauge[] = [
  { name: 'nfr_snapshots', help: 'Completed snapshots in the catalog', labelNames: [], read: async (s) => [[{}, (await s.snapshots()).length]] },
  { name: 'nfr_snapshot_bytes', help: 'Bytes held by completed snapshots', labelNames: [], read: async (s) => [[{}, (await s.snapshots()).reduce((sum, m) => sum + m.total_bytes, 0)]] },
  {
    name: 'nfr_snapshot_latest_age_seconds',
    help: 'Age of the newest completed snapshot (-1 when there is none)',
    labelNames: [],
    read: async (s) => {
      const latest = (await s.snapshots()).reduce<number | undefined>((t, m) => Math.max(t ?? 0, Date.parse(m.completed_at)), undefined);
      return [[{}, latest === undefined ? -1 : (Date.now() - latest) / 1000]];
    },
  },
  {
    name: 'nfr_snapshot_operations',
    help: 'Snapshot operations in the recent event log, by outcome',
    labelNames: ['operation', 'status'],
    read: async (s) => {
      const outcomes = new Map<string, [Labels, number]>();
      for (const e of await s.events()) {
        const key = JSON.stringify([e.operation, e.status]);
        outcomes.set(key, [{ operation: String(e.operation), status: String(e.status) }, (outcomes.get(key)?.[1] ?? 0) + 1]);
      }
      return [...outcomes.values()];
    },
  },
  {
    name: 'nfr_snapshot_last_duration_seconds',
    help: 'Duration of the last successful operation of each kind',
    labelNames: ['operation'],
    read: async (s) => {
      const durations = new Map<string, number>();
      for (const e of await s.events()) if (e.status === 'completed' && e.duration_ms !== undefined) durations.set(String(e.operation), e.duration_ms / 1000);
      return [...durations].map(([operation, seconds]) => [{ operation }, seconds] as const);
    },
  },
  {
    name: 'nfr_snapshot_latest_completed_timestamp_seconds',
    help: 'When the newest completed snapshot completed (Unix time; 0 when there is none)',
    labelNames: [],
    read: async (s) => [[{}, (await s.snapshots()).reduce((t, m) => Math.max(t, Date.parse(m.completed_at) / 1000), 0)]],
  },
  {
    name: 'nfr_operation_failures',
    help: 'Jobs that failed, by operation (snapshot, scheduled_run, restore, ingestion, index); it only grows, so alert on its increase',
    labelNames: ['operation'],
    read: async (s) => {
      const byOperation = new Map<string, number>(Object.values(JOB_OPERATION).map((o) => [o, 0]));
      for (const t of await s.jobTally()) if (t.status === 'failed') byOperation.set(JOB_OPERATION[t.kind as JobKind] ?? t.kind, (byOperation.get(JOB_OPERATION[t.kind as JobKind] ?? t.kind) ?? 0) + t.n);
      return [...byOperation].map(([operation, n]) => [{ operation }, n] as const);
    },
  },
  {
    name: 'nfr_schedule_last_success_timestamp_seconds',
    help: "When each schedule's last successful run finished (Unix time; 0 before the first)",
    labelNames: ['schedule'],
    read: async (s) => (await s.schedules()).map((sc) => [{ schedule: sc.name }, sc.last_success_at ? Date.parse(sc.last_success_at) / 1000 : 0] as const),
  },
  { name: 'nfr_schedule_paused', help: 'Whether each schedule is paused', labelNames: ['schedule'], read: async (s) => (await s.schedules()).map((sc) => [{ schedule: sc.name }, sc.paused ? 1 : 0] as const) },
  { name: 'nfr_backup_volume_used_ratio', help: 'Share of the backup volume in use (0 to 1, as df counts it)', labelNames: [], read: async (s) => [[{}, (await s.volume()).ratio]] },
  { name: 'nfr_backup_volume_free_bytes', help: 'Bytes free on the backup volume', labelNames: [], read: async (s) => [[{}, (await s.volume()).free]] },
  { name: 'nfr_backup_volume_size_bytes', help: 'Size of the backup volume', labelNames: [], read: async (s) => [[{}, (await s.volume()).size]] },
  { name: 'nfr_alerts_firing', help: 'Alert conditions firing now (every server agrees: the state is in the control database)', labelNames: ['alert', 'severity'], read: async (s) => (await s.firingAlerts()).map((a) => [{ alert: a.key, severity: a.severity }, 1] as const) },
  { name: 'nfr_jobs', help: 'Jobs by kind and status', labelNames: ['kind', 'status'], read: async (s) => (await s.jobTally()).map((t) => [{ kind: t.kind, status: t.status }, t.n] as const) },
  { name: 'nfr_ingestion_uploads', help: 'Upload batches by status', labelNames: ['status'], read: async (s) => ((await s.uploads()) ?? []).map((r) => [{ status: r.status }, Number(r.n)] as const) },
  {
    name: 'nfr_ingestion_rows_written',
    help: 'Rows inserted or updated by ingestion batches, by batch status',
    labelNames: ['status'],
    read: async (s) => ((await s.uploads()) ?? []).map((r) => [{ status: r.status }, Number(r.rows)] as const),
  },
  { name: 'nfr_database_up', help: 'Whether the live database answered', labelNames: [], read: async (s) => [[{}, (await s.liveUp()) ? 1 : 0]] },
];

/** Request durations: from a millisecond to a minute (an upload of a large file). */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Job durations: from a fraction of a second (a small ingestion) to hours (a large restore). */
const JOB_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400];

/** One server's metrics: its registry, the scraped gauges, and what is observed as it happens. */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly gauges: readonly { readonly spec: ScrapedGauge; readonly gauge: Gauge }[];

  /** Time to answer a request, by route pattern (never the raw URL: ids would explode the series) and status. */
  readonly httpRequestDuration = new Histogram({
    name: 'nfr_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  /** How long the jobs this server ran took, by kind and outcome. */
  readonly jobDuration = new Histogram({
    name: 'nfr_job_duration_seconds',
    help: 'Duration of jobs run by this server, by kind and outcome',
    labelNames: ['kind', 'status'] as const,
    buckets: JOB_BUCKETS,
    registers: [this.registry],
  });

  /** Alert deliveries this server made, by event, that every retry failed / that a receiver accepted. */
  readonly alertDeliveryFailures = new Counter({ name: 'nfr_alert_delivery_failures_total', help: 'Alert deliveries to a webhook that failed after every retry, by event', labelNames: ['event'] as const, registers: [this.registry] });
  readonly alertDeliveries = new Counter({ name: 'nfr_alert_deliveries_total', help: 'Alert deliveries a webhook accepted, by event', labelNames: ['event'] as const, registers: [this.registry] });

  constructor(private readonly sources: MetricSources) {
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which promtool rejects; nodejs_active_{handles,requests,resources}
    // (by type) carry the same numbers.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    this.gauges = SCRAPED_GAUGES.map((spec) => ({ spec, gauge: new Gauge({ name: spec.name, help: spec.help, labelNames: spec.labelNames, registers: [this.registry] }) }));
  }

  /** The Content-Type of `render()`'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Reads the scraped gauges afresh and answers the exposition text. A source that fails fails the scrape. */
  async render(): Promise<string> {
    const scrape = new Scrape(this.sources);
    const read = await Promise.all(this.gauges.map(async ({ spec, gauge }) => ({ gauge, samples: await spec.read(scrape) })));
    for (const { gauge, samples } of read) {
      gauge.reset();
      for (const [labels, value] of samples) gauge.set(labels, Number.isFinite(value) ? value : 0);
    }
    return this.registry.metrics();
  }
}

/** A function that runs `fn` once, on first call, and answers the same promise after. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= fn());
}
