/**
 * A snapshot directory whose manifest cannot be read is listed under `damaged`; `nfr snapshot
 * delete` removes it like any other instead of refusing with the manifest's error, so nobody has
 * to `rm -rf` inside POSTGRES_BACKUP_PATH by hand.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfrJson } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';

const cluster = fileCluster();

describe('delete of a damaged snapshot', () => {
  it('removes a directory whose manifest is not valid JSON, and still refuses an id that is nowhere', async () => {
    const db = await freshDatabase(cluster, 'damaged');
    const created = await nfrJson(['snapshot', 'create', '--name', 'to be damaged'], db.env);
    assert.equal(created.code, 0, created.stderr);
    const id: string = created.body.id;
    const dir = path.join(db.backups, id);
    await writeFile(path.join(dir, 'manifest.json'), `{"id": "${id}", cut off`);

    const listed = await nfrJson(['snapshot', 'list'], db.env);
    assert.deepEqual(listed.body.damaged.map((d: { id: string }) => d.id), [id]);
    const shown = await nfrJson(['snapshot', 'show', '--id', id], db.env);
    assert.equal(shown.body.error.code, 'VERIFY_FAILED');

    const deleted = await nfrJson(['snapshot', 'delete', '--id', id, '--yes'], db.env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.body.id, id);
    assert.match(deleted.body.damaged, /manifest\.json is not valid JSON/);
    assert.ok(deleted.body.freed_bytes > 0);
    assert.ok(!existsSync(dir));
    const after = await nfrJson(['snapshot', 'list'], db.env);
    assert.deepEqual(after.body.damaged, []);
    assert.deepEqual(after.body.snapshots, []);

    const again = await nfrJson(['snapshot', 'delete', '--id', id, '--yes'], db.env);
    assert.equal(again.code, 4, again.stderr);
    assert.equal(again.body.error.code, 'NOT_FOUND');
  });
});
