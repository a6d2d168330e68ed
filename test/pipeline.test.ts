/**
 * `nfr pipeline run` end to end on the shipped sample, and rollback on a failing stage.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfrJson, testEnv } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { controlQuery, fingerprint, query } from './support/data.js';

const cluster = fileCluster();

async function env(prefix: string) {
  const db = await cluster.createDatabase(prefix);
  return { url: db.url, env: testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir(`${prefix}-backups`), NFR_HOME: cluster.tempDir(`${prefix}-home`) }) };
}

describe('nfr pipeline run', () => {
  it('runs the sample with checkpoints and ends with PostgreSQL and the index consistent', async () => {
    const { url, env: e } = await env('sample');
    const run = await nfrJson(['pipeline', 'run', '--sample', '--snapshots'], e);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.body.ok, true);
    const checkpoints = run.body.steps.filter((s: { kind: string }) => s.kind === 'snapshot');
    assert.deepEqual(checkpoints.map((s: { step: string }) => s.step), ['pre-pipeline snapshot', 'post-context snapshot', 'post-controls snapshot', 'production snapshot']);
    assert.equal(run.body.last_good_checkpoint, checkpoints[3].snapshot_id);

    const controls = await query<{ n: number }>(url, 'select count(*)::int as n from src_controls_ver_control where tx_to is null');
    assert.equal(controls[0]?.n, 370);
    const stage = await query<{ stage: string }>(url, 'select stage from nfr_pipeline_stage');
    assert.equal(stage[0]?.stage, 'indexed');
    const check = await nfrJson(['index', '--check'], e);
    assert.equal(check.code, 0, check.stderr);

    // Each checkpoint recorded the stage it captured.
    const list = await nfrJson(['snapshot', 'list'], e);
    assert.deepEqual(list.body.snapshots.map((s: { pipeline_stage: string }) => s.pipeline_stage), ['clean', 'context', 'controls', 'indexed']);

    const search = await nfrJson(['search', 'multi-factor authentication for privileged accounts', '--limit', '5'], e);
    assert.ok(search.body.results.some((r: { control_id: string }) => r.control_id.startsWith('IA-2')), JSON.stringify(search.body.results));

    // Running it again changes nothing but takes new checkpoints.
    const again = await nfrJson(['pipeline', 'run', '--sample'], e);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.body.steps.find((s: { step: string }) => s.step === 'control ingestion').summary, /0 new, 0 changed, 370 unchanged/);
  });

  it('stops at a broken controls file and, with --rollback-on-failure, restores the pre-controls checkpoint', async () => {
    const { url, env: e } = await env('rollback');
    const first = await nfrJson(['pipeline', 'run', '--sample'], e);
    assert.equal(first.code, 0, first.stderr);
    const good = await fingerprint(url);

    const broken = path.join(cluster.tempDir('broken'), 'controls.csv');
    await writeFile(broken, 'control_id,title,frequency\nNEW-1,A new control,hourly\n');
    const run = await nfrJson(['pipeline', 'run', '--context', path.join(e.NFR_HOME!, 'sample', 'context'), '--controls', broken, '--rollback-on-failure'], e);
    assert.equal(run.code, 12, run.stderr);
    assert.equal(run.body.ok, false);
    assert.equal(run.body.error.code, 'INVALID_INPUT', 'the error in the shape every command uses');
    assert.match(run.body.error.message, /pipeline stopped at "control ingestion".*\nrolled back to SNAP-/s);
    const failed = run.body.steps.find((s: { status: string }) => s.status === 'failed');
    assert.equal(failed.step, 'control ingestion');
    assert.match(failed.error.message, /line 2.*frequency|frequency.*line 2/s);
    assert.equal(run.body.rolled_back_to, run.body.steps.find((s: { step: string }) => s.step === 'post-context snapshot').snapshot_id);
    assert.match(run.stderr, /rolled back to SNAP-/);
    // Back at the post-context checkpoint: every data and model table as before this run (only
    // this run's context upload record and stage timestamp are newer).
    const data = (f: Record<string, unknown>) => Object.fromEntries(Object.entries(f).filter(([t]) => /^public\.(src_|ai_)/.test(t)));
    assert.deepEqual(data(await fingerprint(url)), data(good), 'the database is back at the pre-controls checkpoint');
    // The record of the upload that failed survives the rollback (issue 19.4): it is in the
    // control database, which restores never replace.
    const uploads = await controlQuery<{ kind: string; status: string; original_filename: string | null; errors: { line: number; field: string }[] }>(
      url,
      'select kind, status, original_filename, errors from nfr_upload order by upload_id',
    );
    const failedUpload = uploads.filter((u) => u.status === 'failed');
    assert.deepEqual(failedUpload.map((u) => [u.kind, u.original_filename, u.errors.map((x) => [x.line, x.field])]), [['controls', 'controls.csv', [[2, 'frequency']]]]);
    assert.deepEqual(uploads.filter((u) => u.kind === 'context').map((u) => u.status), ['completed', 'completed'], 'both context runs on record');
    const skipped = run.body.steps.filter((s: { status: string }) => s.status === 'skipped').map((s: { step: string }) => s.step);
    assert.deepEqual(skipped, ['enrichment', 'post-controls snapshot', 'indexing', 'production snapshot']);

    // With no input named, the configured providers folder is the input.
    const configured = await nfrJson(['pipeline', 'run'], { ...e, CONTEXT_PROVIDERS_PATH: path.join(e.NFR_HOME!, 'sample', 'context') });
    assert.equal(configured.code, 0, configured.stderr);
    assert.equal(configured.body.steps.find((s: { step: string }) => s.step === 'context ingestion').status, 'completed');
  });

  it('says after a restore what is out of date, fixes it with --resync, and lists files of unknown uploads', async () => {
    const { env: e } = await env('stages');
    const run = await nfrJson(['pipeline', 'run', '--sample', '--snapshots'], e);
    assert.equal(run.code, 0, run.stderr);
    const checkpoint = (step: string) => run.body.steps.find((s: { step: string }) => s.step === step).snapshot_id as string;

    const back = await nfrJson(['snapshot', 'restore', '--id', checkpoint('post-context snapshot'), '--yes', '--skip-backup'], e);
    assert.equal(back.code, 0, back.stderr);
    const after = back.body.after_restore;
    assert.equal(after.snapshot_stage, 'context');
    assert.equal(after.index.status, 'out-of-date');
    assert.equal(after.index.orphan, 370, 'every indexed control is gone from the restored database');
    assert.equal(after.index.fix, 'nfr index');
    assert.ok(after.unreferenced_files.files.some((f: string) => /^controls\/UPL-\d{4}-\d{4}\.csv$/.test(f)), JSON.stringify(after.unreferenced_files));
    assert.ok(after.unreferenced_files.files.some((f: string) => f.startsWith('model_runs/embedding/')));

    const forward = await nfrJson(['snapshot', 'restore', '--id', checkpoint('production snapshot'), '--yes', '--skip-backup', '--resync'], e);
    assert.equal(forward.code, 0, forward.stderr);
    assert.equal(forward.body.after_restore.index.status, 'resynced');
    assert.equal(forward.body.after_restore.index.resync.points, 370);
    assert.equal(forward.body.after_restore.unreferenced_files.count, 0);
    assert.equal((await nfrJson(['index', '--check'], e)).code, 0);

    const again = await nfrJson(['snapshot', 'restore', '--id', checkpoint('production snapshot'), '--yes', '--skip-backup'], e);
    assert.equal(again.body.after_restore.index.status, 'in-sync');
    assert.equal(again.body.after_restore.index.fix, null);
  });
});
