/**
 * A spare restore's report reads nothing in proportion to the database: the controls' signature
 * it compares with the vector index's is read when the spare is made (off the critical path) and
 * recorded with it, and the report of its restore uses that record.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nfrJson, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { query } from './support/data.js';
import { seededDatabase } from './support/setup.js';
import { waitFor } from './support/wait.js';

const cluster = fileCluster();

async function spareOf(env: Env, id: string): Promise<any> {
  const shown = await nfrJson(['snapshot', 'show', '--id', id], env);
  assert.equal(shown.code, 0, shown.stderr);
  return shown.body.warm?.spare ?? null;
}

describe('the report of a spare restore', () => {
  it('compares the index with the signature recorded when the spare was made: in sync after restoring the data it was synced from, out of date after restoring other data', async () => {
    const { url, env } = await seededDatabase(cluster, 'sparereport', { controls: 200 });
    const indexed = await nfrJson(['index'], env);
    assert.equal(indexed.code, 0, indexed.stderr);
    const created = await nfrJson(['snapshot', 'create', '--name', 'indexed', '--warm'], env);
    assert.equal(created.code, 0, created.stderr);
    const id: string = created.body.id;
    const spare = await spareOf(env, id);
    assert.ok(spare, 'warming makes the spare');
    assert.match(spare.index_signature, /\S/, 'the spare records the signature of its data');

    // Ingestion-like changes after the index: then the snapshot's data comes back.
    await query(url, `update src_controls_ver_control set tx_to = now() where control_id in (select control_id from src_controls_ver_control where tx_to is null order by control_id limit 3)`);
    const restored = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.body.restored_from, 'spare');
    assert.equal(restored.body.after_restore.index.status, 'in-sync', JSON.stringify(restored.body.after_restore.index));

    // The index synced to other data: the same recorded signature no longer matches it.
    const next = await waitFor(async () => {
      const s = await spareOf(env, id);
      return s && s.prepared_at > spare.prepared_at ? s : null;
    }, { what: 'the next spare', intervalMs: 200 });
    assert.equal(next.index_signature, spare.index_signature, 'the same data, the same signature');
    await query(url, `update src_controls_ver_control set tx_to = now() where control_id in (select control_id from src_controls_ver_control where tx_to is null order by control_id limit 3)`);
    assert.equal((await nfrJson(['index'], env)).code, 0);
    const again = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.body.restored_from, 'spare');
    assert.equal(again.body.after_restore.index.status, 'out-of-date', JSON.stringify(again.body.after_restore.index));
    assert.equal(again.body.after_restore.index.missing, 3, 'the three controls the index lost are back in the data');
  });
});
