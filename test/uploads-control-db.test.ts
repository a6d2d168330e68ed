/**
 * An accepted upload is never lost (issue 19 item 4): its record lives in the control database,
 * beside the jobs, where a restore cannot touch it, and it is ingested into whatever database is
 * live when its job gets the lock. Against a real cluster: a real restore racing an upload through
 * the API, and a SIGKILLed `nfr ingest controls` whose upload recovery fails at once. (The
 * rollback of `pipeline run` keeping the failed upload's record is in pipeline.test.ts.)
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { deadUploads, type UploadRecordsContext } from '../src/ingest/upload-records.js';
import { targetFromUrl, withDatabase } from '../src/postgres/connection.js';
import { ADMIN, api, API_TOKENS, pollJob, serve } from './support/api.js';
import { nfrJson, spawnNfr, waitForExit, waitForStderr } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { controlsDb, csv, row } from './support/controls-fixtures.js';
import { controlQuery, query } from './support/data.js';

const cluster = fileCluster();

describe('uploads are recorded in the control database', () => {
  it('an upload accepted while a restore runs completes against the restored database', async () => {
    const db = await controlsDb(cluster, 'race');
    const env = { ...db.env, API_TOKENS, NFR_LOCK_WAIT_SECONDS: '600' };
    await writeFile(path.join(db.dir, 'a.csv'), csv([row('OLD-1')]));
    assert.equal((await nfrJson(['ingest', 'controls', path.join(db.dir, 'a.csv')], env)).code, 0);
    const snap = await nfrJson(['snapshot', 'create', '--name', 'before race'], env);
    assert.equal(snap.code, 0, snap.stderr);
    await writeFile(path.join(db.dir, 'b.csv'), csv([row('GONE-1')]));
    assert.equal((await nfrJson(['ingest', 'controls', path.join(db.dir, 'b.csv')], env)).code, 0);

    const server = await serve(env);
    try {
      // A restore (with its pre-restore backup), then at once an upload.
      const restore = await api(server, 'POST', `/api/v2/devdata/snapshots/${snap.body.id}/restore`, { body: {} });
      assert.equal(restore.status, 202, restore.text);
      const form = new FormData();
      form.append('file', new Blob([csv([row('RACE-1')])], { type: 'text/csv' }), 'race.csv');
      const res = await fetch(`${server.url}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: form });
      const accepted = (await res.json()) as { job_id: string; upload_id: string };
      assert.equal(res.status, 202, JSON.stringify(accepted));

      const restored = await pollJob(server, restore.json.job_id);
      assert.equal(restored.status, 'completed', JSON.stringify(restored));
      const ingested = await pollJob(server, accepted.job_id);
      assert.equal(ingested.status, 'completed', JSON.stringify(ingested));

      // The upload was accepted before the restore finished, and ran after it, on the restored data.
      const [record] = await controlQuery(db.url, 'select status, database, created_at, finished_at from nfr_upload where upload_id = $1', [accepted.upload_id]);
      assert.equal(record.status, 'completed');
      assert.equal(record.database, db.name);
      assert.ok(new Date(record.created_at) < new Date(restored.finished_at), `upload accepted at ${record.created_at}, restore finished at ${restored.finished_at}`);
      const live = await query(db.url, 'select control_id, upload_id from src_controls_ver_control where tx_to is null order by 1');
      assert.deepEqual(live, [
        { control_id: 'OLD-1', upload_id: live[0]?.upload_id },
        { control_id: 'RACE-1', upload_id: accepted.upload_id },
      ]);

      // The history lists every upload, the one the restore took back out of the data included.
      const history = await api(server, 'GET', '/api/v2/pipelines/uploads?limit=10');
      assert.equal(history.status, 200, history.text);
      assert.equal(history.json.total, 3);
      assert.deepEqual(
        history.json.uploads.map((u: { original_filename: string; status: string }) => [u.original_filename, u.status]),
        [
          ['race.csv', 'completed'],
          ['b.csv', 'completed'],
          ['a.csv', 'completed'],
        ],
      );
    } finally {
      await server.stop();
    }
  });

  it('a SIGKILLed `nfr ingest controls` leaves its upload running only until recovery, which fails it at once', async () => {
    const db = await controlsDb(cluster, 'killed');
    const file = path.join(db.dir, 'k.csv');
    await writeFile(file, csv([row('K-1'), row('K-2')]));
    const child = spawnNfr(['ingest', 'controls', file, '--json'], { ...db.env, NFR_FAULT_POINT: 'before-commit' });
    child.stdin.end();
    await waitForStderr(child, /nfr-fault-point: before-commit/);
    const [running] = await controlQuery(db.url, 'select upload_id, status, pid from nfr_upload');
    assert.equal(running.status, 'running');
    assert.equal(running.pid, child.pid);
    child.kill('SIGKILL');
    await waitForExit(child);

    // Servers' periodic check sees it without the lock: a dead process on this host.
    const target = targetFromUrl(db.url);
    const ctx = { config: { controlDatabase: undefined } as UploadRecordsContext['config'], target, maintenance: withDatabase(target, 'postgres') };
    assert.deepEqual(await deadUploads(ctx), [running.upload_id]);
    assert.equal((await controlQuery(db.url, 'select status from nfr_upload'))[0].status, 'running', 'the check only reads');
    // `nfr snapshot recover` (the recovery every operation and server runs) fails it at once.
    const recovered = await nfrJson(['snapshot', 'recover'], db.env);
    assert.equal(recovered.code, 0, recovered.stderr);
    assert.deepEqual(recovered.body.failed_uploads, [running.upload_id]);
    assert.match(recovered.body.summary, new RegExp(`marked upload ${running.upload_id} failed`));
    const [failed] = await controlQuery(db.url, 'select status, errors, finished_at from nfr_upload');
    assert.equal(failed.status, 'failed');
    assert.match(failed.errors[0].message, /interrupted: the ingesting process ended before it finished; nothing of it was written/);
    assert.ok(failed.finished_at);
    assert.equal((await query(db.url, 'select count(*)::int as n from src_controls_ref_control'))[0].n, 0, 'nothing committed');

    // And the next ingestion, under the lock, finds nothing left to fail; its id is the next one.
    const next = await nfrJson(['ingest', 'controls', file], db.env);
    assert.equal(next.code, 0, next.stderr);
    assert.notEqual(next.body.upload_id, running.upload_id);
    assert.deepEqual(await controlQuery(db.url, 'select status from nfr_upload order by upload_id'), [{ status: 'failed' }, { status: 'completed' }]);
  });

  it('an ingestion killed after its batch committed, before its record said so, is recovered as completed', async () => {
    const db = await controlsDb(cluster, 'committed');
    const file = path.join(db.dir, 'c.csv');
    await writeFile(file, csv([row('C-1'), row('C-2')]));
    const child = spawnNfr(['ingest', 'controls', file, '--json'], { ...db.env, NFR_FAULT_POINT: 'after-commit' });
    child.stdin.end();
    await waitForStderr(child, /nfr-fault-point: after-commit/);
    child.kill('SIGKILL');
    await waitForExit(child);
    const [running] = await controlQuery(db.url, 'select upload_id, status from nfr_upload');
    assert.equal(running.status, 'running');

    const recovered = await nfrJson(['snapshot', 'recover'], db.env);
    assert.equal(recovered.code, 0, recovered.stderr);
    assert.deepEqual(recovered.body.failed_uploads, [], 'its rows are in: not a failed batch');
    const [record] = await controlQuery(db.url, 'select status, errors from nfr_upload');
    assert.equal(record.status, 'completed');
    assert.match(record.errors[0].message, /the batch was committed, but its process ended before it recorded its counts/);
    const live = await query(db.url, 'select control_id, upload_id from src_controls_ver_control where tx_to is null order by 1');
    assert.deepEqual(live, [
      { control_id: 'C-1', upload_id: running.upload_id },
      { control_id: 'C-2', upload_id: running.upload_id },
    ]);
  });
});
