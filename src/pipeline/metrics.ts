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
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { JobStore } from '../jobs/store.js';
import type { Context } from '../runtime/context.js';
import { completedSnapshots } from '../snapshot/catalog.js';
import { readEvents } from '../snapshot/state.js';

export interface MetricSources {
  readonly ctx: Context;
  readonly jobs: JobStore;
  /** Runs a query on the live database (the server's pool, resilient to a restore's swap). */
  readonly queryLive: <R>(sql: string) => Promise<R[]>;
}

type Labels = Record<string, string>;
type Samples = readonly (readonly [Labels, number])[];

/** What one scrape reads, each source at most once however many metrics use it. */
export class Scrape {
  constructor(readonly sources: MetricSources) {}

  readonly snapshots = once(() => completedSnapshots(this.sources.ctx.store));
  readonly events = once(() => readEvents(this.sources.ctx.store, 2000));
  readonly jobTally = once(() => this.sources.jobs.tally());
  /** Upload batches by status, or undefined when the live database does not answer. */
  readonly uploads = once(() =>
    this.sources
      .queryLive<{ status: string; rows: string; n: string }>('select status, coalesce(sum(rows_inserted + rows_updated), 0)::text as rows, count(*)::text as n from nfr_upload group by status')
      .catch(() => undefined),
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
  { name: 'nfr_jobs', help: 'Jobs by kind and status', labelNames: ['kind', 'status'], read: async (s) => (await s.jobTally()).map((t) => [{ kind: t.kind, status: t.status }, t.n] as const) },
  { name: 'nfr_ingestion_uploads', help: 'Upload batches by status', labelNames: ['status'], read: async (s) => ((await s.uploads()) ?? []).map((r) => [{ status: r.status }, Number(r.n)] as const) },
  {
    name: 'nfr_ingestion_rows_written',
    help: 'Rows inserted or updated by ingestion batches, by batch status',
    labelNames: ['status'],
    read: async (s) => ((await s.uploads()) ?? []).map((r) => [{ status: r.status }, Number(r.rows)] as const),
  },
  { name: 'nfr_database_up', help: 'Whether the live database answered', labelNames: [], read: async (s) => [[{}, (await s.uploads()) === undefined ? 0 : 1]] },
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
