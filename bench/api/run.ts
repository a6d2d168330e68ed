/**
 * `npm run bench:api`: the HTTP API under load (issue 4, item 8).
 *
 * On a throwaway cluster it loads BENCH_CONTROLS generated controls (default 20,000) through the
 * nfr CLI, snapshots them, starts `nfr serve --port 0`, and then
 *   1. measures throughput and p50/p99 latency of four read routes with autocannon
 *      (BENCH_CONNECTIONS connections, default 10, for BENCH_SECONDS each, default 10);
 *   2. restores the snapshot through the API while readers keep loading DB-backed routes, and
 *      counts every answer in that window. Target: no error other than 503 (no other 5xx or 4xx,
 *      no connection error, no timeout).
 * Progress goes to stderr; the report and a final `RESULT {json}` line to stdout. A missed target
 * is a measurement (FAIL in the report), not a crash: the exit code is non-zero only if something
 * broke. Everything started is stopped and the directory removed, also on failure or Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { z } from 'zod';
import { loadDataset } from './dataset.js';
import { measure, type LoadSpec, type LoadStats } from './load.js';
import { printReport, type BenchResult } from './report.js';
import { restoreUnderLoad } from './restore.js';
import { BenchServer } from './server.js';
import { Workspace } from './workspace.js';
import { runBench } from '../main.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

const int = (min: number, max: number) =>
  z.string().trim().regex(/^\d+$/, `an integer from ${min} to ${max}`).transform(Number).pipe(z.number().min(min, `an integer from ${min} to ${max}`).max(max, `an integer from ${min} to ${max}`));

const settingsSchema = z.object({
  BENCH_CONTROLS: int(100, 2_000_000).default(20_000),
  BENCH_SECONDS: int(1, 600).default(10),
  BENCH_CONNECTIONS: int(1, 200).default(10),
  BENCH_DIR: z.string().trim().min(1).default(tmpdir()),
  PG_BIN_DIR: z.string().trim().min(1).optional(),
});

/**
 * Queries phrased the way a risk analyst would type them, over the generated sample's domains
 * (access, resilience, suppliers, finance, financial crime, change, privacy, conduct): they hit
 * different neighbourhoods of the index, so no one cached answer serves every request.
 */
const SEARCH_QUERIES = [
  'quarterly review of privileged access rights',
  'sanctions screening alerts investigated and closed',
  'general ledger reconciliations at month-end',
  'backup restoration tests within recovery time objectives',
  'supplier due diligence before outsourcing contracts',
  'emergency changes approved before reaching production',
  'data subject access requests answered on time',
  'customer complaints handled fairly and reported',
];

async function run(): Promise<void> {
  const parsed = settingsSchema.safeParse(process.env);
  if (!parsed.success) throw new Error(`invalid benchmark settings: ${parsed.error.issues.map((i) => `${String(i.path[0])}: expected ${i.message}`).join('; ')}`);
  const settings = parsed.data;
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  const readerToken = `reader-${randomBytes(16).toString('hex')}`;

  log(`bench: starting a cluster under ${settings.BENCH_DIR}`);
  const ws = await Workspace.open(settings.BENCH_DIR, settings.PG_BIN_DIR);
  let server: BenchServer | undefined;
  // One cleanup, whether the run ends normally, fails, or is interrupted.
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      log('bench: stopping the server and the cluster');
      await server?.stop().catch((err: unknown) => log(`bench: could not stop the server: ${(err as Error).message}`));
      await ws.dispose();
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    log(`bench: ${signal}, cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    log(`bench: loading ${settings.BENCH_CONTROLS} controls through nfr`);
    const dataset = await loadDataset(ws, settings.BENCH_CONTROLS, log);

    server = await BenchServer.start(ws.env({ API_TOKENS: `admin:${adminToken},reader:${readerToken}` }));
    log(`bench: nfr serve on ${server.url}`);

    // A completed job to read the status of, made through the API as a client would.
    const created = await server.call('POST', '/api/v2/devdata/snapshots/create', adminToken, { name: 'bench-api', tags: ['bench'] });
    if (created.status !== 202) throw new Error(`snapshot create answered ${created.status}: ${created.text}`);
    const jobId = (created.json as { job_id: string }).job_id;
    const job = await server.waitForJob(jobId, readerToken, 10 * 60_000);
    if (job.status !== 'completed') throw new Error(`snapshot job ${jobId} failed: ${job.error?.message}`);

    const spec = (name: string, paths: string[], connections = settings.BENCH_CONNECTIONS): LoadSpec => ({ name, paths, token: readerToken, connections });
    const searchPaths = SEARCH_QUERIES.map((q) => `/api/v2/controls/search?q=${encodeURIComponent(q)}`);
    const routes = [
      spec('GET /api/v2/devdata/snapshots', ['/api/v2/devdata/snapshots']),
      spec('GET /api/v2/controls/search?q=…', searchPaths),
      spec('GET /api/v2/devdata/snapshots/job/{id}/status', [`/api/v2/devdata/snapshots/job/${jobId}/status`]),
      spec('GET /api/v2/pipelines/status', ['/api/v2/pipelines/status']),
    ];
    const measured: LoadStats[] = [];
    for (const route of routes) {
      log(`bench: ${route.name} for ${settings.BENCH_SECONDS} s`);
      measured.push(await measure(server, route, settings.BENCH_SECONDS));
    }

    log(`bench: restoring ${dataset.snapshotId} under load`);
    const restore = await restoreUnderLoad(server, {
      snapshotId: dataset.snapshotId,
      adminToken,
      readerToken,
      expectedControls: dataset.controls,
      // Readers of the database carry the load; a little search traffic shows the routes that
      // do not use the pool keep working too.
      specs: [spec('GET /api/v2/pipelines/status', ['/api/v2/pipelines/status']), spec('GET /api/v2/controls/search?q=…', searchPaths, 2)],
    });

    const result: BenchResult = {
      controls: dataset.controls,
      seconds_per_route: settings.BENCH_SECONDS,
      connections: settings.BENCH_CONNECTIONS,
      load_seconds: dataset.seconds,
      snapshot_bytes: dataset.snapshotBytes,
      routes: measured,
      restore,
      target: { description: 'restore under load: zero errors other than 503 (no other 4xx/5xx, connection errors or timeouts)', pass: restore.unexpected === 0 },
    };
    process.stdout.write(printReport(result, dataset));
  } catch (err) {
    if (server) log(`bench: last server output: ${server.recentStderr.trim() || '(none)'}`);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

runBench(run);
