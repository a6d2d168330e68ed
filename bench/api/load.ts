/**
 * Load generation with autocannon: a fixed number of connections for a fixed time (one route's
 * throughput and latency), or open-ended load that the caller stops (the restore window).
 * Latency percentiles include non-2xx answers (autocannon's default), so a route that answers 503
 * quickly is not mistaken for a fast route: non-2xx counts are reported beside them.
 */
import autocannon from 'autocannon';
import type { BenchServer } from './server.js';

export interface LoadSpec {
  readonly name: string;
  /** Paths rotated in order by every connection (several search queries, one status route...). */
  readonly paths: readonly string[];
  readonly token: string;
  readonly connections: number;
}

export interface LoadStats {
  readonly name: string;
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly req_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  /** Answers by HTTP status. */
  readonly status_codes: Record<string, number>;
  readonly non_2xx: number;
  /** Connection errors and timeouts (no HTTP answer at all). */
  readonly errors: number;
  readonly timeouts: number;
  /** A few distinct connection-error messages, to say what went wrong. */
  readonly error_samples: string[];
  /** Server process CPU over the run, percent of one core; null without /proc. */
  readonly server_cpu_pct: number | null;
}

export interface RunningLoad {
  /** Milliseconds since the load started at which each 503 arrived. */
  readonly times503: number[];
  stop(): Promise<LoadStats>;
}

/** A request never answered within this many seconds counts as a timeout (an error). */
const REQUEST_TIMEOUT_S = 10;
/** Open-ended load runs until stopped; this only bounds a run whose caller died. */
const OPEN_ENDED_S = 3600;

function start(server: BenchServer, spec: LoadSpec, duration: number): { instance: autocannon.Instance; times503: number[]; errorSamples: Set<string>; cpu0: number | undefined; t0: number } {
  const instance = autocannon({
    url: server.url,
    connections: spec.connections,
    duration,
    timeout: REQUEST_TIMEOUT_S,
    headers: { authorization: `Bearer ${spec.token}` },
    requests: spec.paths.map((path) => ({ method: 'GET', path })),
    title: spec.name,
  });
  const t0 = Date.now();
  const times503: number[] = [];
  const errorSamples = new Set<string>();
  instance.on('response', (_client, statusCode) => {
    if (statusCode === 503) times503.push(Date.now() - t0);
  });
  instance.on('reqError', (error) => {
    if (errorSamples.size < 5) errorSamples.add(error.message);
  });
  return { instance, times503, errorSamples, cpu0: server.cpuSeconds(), t0 };
}

function summarize(server: BenchServer, spec: LoadSpec, r: autocannon.Result, errorSamples: Set<string>, cpu0: number | undefined): LoadStats {
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(r.statusCodeStats)) statusCodes[code] = Number(count);
  const requests = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  const cpu1 = server.cpuSeconds();
  return {
    name: spec.name,
    connections: spec.connections,
    seconds: r.duration,
    requests,
    req_per_s: Math.round((requests / r.duration) * 10) / 10,
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    max_ms: r.latency.max,
    status_codes: statusCodes,
    non_2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    error_samples: [...errorSamples],
    server_cpu_pct: cpu0 === undefined || cpu1 === undefined ? null : Math.round(((cpu1 - cpu0) / r.duration) * 100),
  };
}

/** Runs `spec` for `seconds` and summarizes it. */
export async function measure(server: BenchServer, spec: LoadSpec, seconds: number): Promise<LoadStats> {
  const run = start(server, spec, seconds);
  const result = await run.instance;
  return summarize(server, spec, result, run.errorSamples, run.cpu0);
}

/** Starts load that runs until `stop()`; the restore phase wraps its restore in it. */
export function startLoad(server: BenchServer, spec: LoadSpec): RunningLoad {
  const run = start(server, spec, OPEN_ENDED_S);
  // Settle the promise now so an early failure is not an unhandled rejection before stop().
  const done = Promise.resolve(run.instance).then(
    (r) => ({ ok: true as const, r }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  return {
    times503: run.times503,
    async stop() {
      run.instance.stop();
      const settled = await done;
      if (!settled.ok) throw settled.err;
      return summarize(server, spec, settled.r, run.errorSamples, run.cpu0);
    },
  };
}
