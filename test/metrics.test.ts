/**
 * `GET /metrics` through prom-client (issue 20 item 2), from a real `nfr serve`: today's names
 * kept, process metrics, request durations by route pattern and status, job durations by kind,
 * label values escaped, and the whole text clean under `promtool check metrics`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ServerMetrics, type MetricSources } from '../src/pipeline/metrics.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';
import { api, API_TOKENS, OPERATOR, pollJob, READER, serve, type Server } from './support/api.js';

let server: Server;
let backups: string;

const cluster = fileCluster(async () => {
  const db = await freshDatabase(cluster, 'metrics', { env: { API_TOKENS } });
  backups = db.backups;
  server = await serve(db.env);
  return () => server.stop();
});

/** `promtool check metrics` on `text`: its exit code and what it said. CI installs promtool (.ci/run). */
function promtool(text: string): { code: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool could not be run (${r.error.message}): install it (Prometheus' promtool; .ci/run does) — this test checks the real exposition with it`);
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The value of the one sample line that starts with `series` (name and labels as written). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  it('keeps the catalog and queue metrics, adds process, request and job metrics, and passes promtool', async () => {
    const created = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { token: OPERATOR, body: { name: 'measured' } });
    assert.equal(created.status, 202, created.text);
    assert.equal((await pollJob(server, created.json.job_id)).status, 'completed');
    const missing = await api(server, 'GET', '/api/v2/devdata/snapshots/SNAP-2026-0042', { token: READER });
    assert.equal(missing.status, 404);
    // An operation name with every character the text format must escape.
    await appendFile(path.join(backups, '.state', 'events.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), operation: 'we"ird\\op\nx', status: 'completed', duration_ms: 1500 })}\n`);

    const r = await api(server, 'GET', '/metrics', { token: READER });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = r.text;

    const checked = promtool(text);
    assert.equal(checked.code, 0, checked.output);
    assert.equal(checked.output.trim(), '', 'promtool has no complaint');

    // Today's names, unchanged.
    assert.equal(sample(text, 'nfr_snapshots'), 1);
    assert.ok((sample(text, 'nfr_snapshot_bytes') ?? 0) > 0);
    const age = sample(text, 'nfr_snapshot_latest_age_seconds') ?? -1;
    assert.ok(age >= 0 && age < 600, String(age));
    assert.equal(sample(text, 'nfr_snapshot_operations{operation="create",status="completed"}'), 1);
    assert.ok((sample(text, 'nfr_snapshot_last_duration_seconds{operation="create"}') ?? 0) > 0);
    assert.equal(sample(text, 'nfr_jobs{kind="snapshot.create",status="completed"}'), 1);
    assert.equal(sample(text, 'nfr_database_up'), 1);
    for (const name of ['nfr_ingestion_uploads', 'nfr_ingestion_rows_written']) assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'));

    // Escaped, not mangled: quote, backslash and newline as the text format says.
    assert.equal(sample(text, 'nfr_snapshot_operations{operation="we\\"ird\\\\op\\nx",status="completed"}'), 1, text);
    assert.equal(sample(text, 'nfr_snapshot_last_duration_seconds{operation="we\\"ird\\\\op\\nx"}'), 1.5);

    // Process metrics.
    assert.ok((sample(text, 'process_cpu_user_seconds_total') ?? 0) > 0);
    assert.ok((sample(text, 'nodejs_heap_size_total_bytes') ?? 0) > 0);

    // Requests by route pattern and status; the raw URL (an id) is in no series.
    assert.equal(sample(text, 'nfr_http_request_duration_seconds_count{method="GET",route="/api/v2/devdata/snapshots/:id",status_code="404"}'), 1);
    assert.equal(sample(text, 'nfr_http_request_duration_seconds_count{method="POST",route="/api/v2/devdata/snapshots/create",status_code="202"}'), 1);
    assert.ok(!text.includes('SNAP-2026-0042'));

    // Jobs by kind and outcome.
    assert.equal(sample(text, 'nfr_job_duration_seconds_count{kind="snapshot.create",status="completed"}'), 1);
    assert.ok((sample(text, 'nfr_job_duration_seconds_sum{kind="snapshot.create",status="completed"}') ?? 0) > 0);
  });

  it('keeps each server\'s metrics in its own registry', async () => {
    const sources = {} as MetricSources; // Neither renders: only the registries are compared.
    const a = new ServerMetrics(sources);
    const b = new ServerMetrics(sources);
    a.httpRequestDuration.observe({ method: 'GET', route: '/x', status_code: '200' }, 0.01);
    assert.match(await a.registry.metrics(), /nfr_http_request_duration_seconds_count\{method="GET",route="\/x",status_code="200"\} 1/);
    assert.doesNotMatch(await b.registry.metrics(), /route="\/x"/);
  });
});
