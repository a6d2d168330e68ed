/**
 * Full snapshots: PostgreSQL, the embedded vector index and DATA_INGESTED_PATH in one manifest,
 * restored together; a restore killed before the swap, or failing inside its index part, changes
 * none of them.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { listFiles } from '../src/util/fs.js';
import { nfrJson, spawnNfr, testEnv, waitForExit, waitForStderr } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint } from './support/data.js';

const cluster = fileCluster();

/** Path → SHA-256 of every file under dir (empty when it does not exist). */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of await listFiles(dir).catch(() => [] as string[])) out[f] = createHash('sha256').update(await readFile(path.join(dir, f))).digest('hex');
  return out;
}

describe('full snapshots', () => {
  it('capture and restore the database, the index with its vectors, and the ingested files together', async () => {
    const db = await cluster.createDatabase('full');
    const home = cluster.tempDir('full-home');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('full-backups'), NFR_HOME: home });
    assert.equal((await nfrJson(['pipeline', 'run', '--sample'], env)).code, 0);
    const indexDir = path.join(home, 'index');
    const dataDir = path.join(home, 'data');
    const state = { db: await fingerprint(db.url), index: await tree(indexDir), data: await tree(dataDir) };
    assert.ok(Object.keys(state.index).some((f) => f.endsWith('vectors.f32')));
    assert.ok(Object.keys(state.data).some((f) => f.startsWith('controls/UPL-')));

    const full = await nfrJson(['snapshot', 'create', '--name', 'golden', '--full'], env);
    assert.equal(full.code, 0, full.stderr);
    assert.equal(full.body.kind, 'full');
    assert.deepEqual(full.body.contains, { postgres: true, vector_index: true, ingested_files: true });
    assert.equal(full.body.index.points, 370);
    assert.ok(full.body.files.some((f: { path: string }) => /^index\/gen-\d+\/vectors\.f32$/.test(f.path)));
    assert.equal((await nfrJson(['snapshot', 'verify', '--id', full.body.id], env)).code, 0);

    // A bad load: changed controls re-ingested and re-indexed, a stray file.
    const csv = path.join(home, 'sample', 'controls.csv');
    await writeFile(csv, (await readFile(csv, 'utf8')).replace('Multi-factor Authentication to Privileged Accounts', 'MFA for admins (changed)'));
    assert.equal((await nfrJson(['pipeline', 'run', '--controls', csv], env)).code, 0);
    await writeFile(path.join(dataDir, 'stray.txt'), 'not in the snapshot');
    assert.notDeepEqual(await tree(indexDir), state.index);

    // Killed after the files are staged but before the swap: nothing live changed.
    const before = { db: await fingerprint(db.url), index: await tree(indexDir), data: await tree(dataDir) };
    const killed = spawnNfr(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'files-staged' });
    await waitForStderr(killed, /nfr-fault-point: files-staged/);
    killed.kill('SIGKILL');
    await waitForExit(killed);
    assert.deepEqual(await fingerprint(db.url), before.db);
    assert.deepEqual(await tree(indexDir), before.index);
    assert.deepEqual(await tree(dataDir), before.data);

    // A real failure inside the index part (thrown after the first index file is staged, the data
    // already staged): the restore fails with the reason, and nothing live changed or was left.
    const failed = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'index-staging:fail' });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.body.error.message, /^staging the vector index and ingested files of SNAP-\d{4}-\d{4,} failed, so nothing live was changed: injected failure at fault point "index-staging"/);
    assert.deepEqual(await fingerprint(db.url), before.db, 'live database untouched');
    assert.deepEqual(await tree(indexDir), before.index, 'live index untouched');
    assert.deepEqual(await tree(dataDir), before.data, 'live files untouched');
    assert.deepEqual((await cluster.databases()).filter((d) => d.includes('__nfr_staging')), [], 'no staging database left');
    assert.deepEqual((await readdir(home)).filter((f) => f.includes('.nfr-incoming')), [], 'no staged directories left');

    const restored = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await fingerprint(db.url), state.db);
    assert.deepEqual(await tree(indexDir), state.index, 'index files (vectors included) byte-identical');
    assert.deepEqual(await tree(dataDir), state.data, 'ingested files byte-identical, the stray one gone');
    assert.equal(restored.body.after_restore.index.status, 'in-sync');
    assert.equal((await nfrJson(['index', '--check'], env)).code, 0);
    const search = await nfrJson(['search', 'multi-factor authentication for privileged accounts', '--limit', '1'], env);
    assert.equal(search.body.results[0].title, 'Multi-factor Authentication to Privileged Accounts');

    // Undo puts back the database and the files of the bad load together.
    const undo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.equal(undo.code, 0, undo.stderr);
    assert.deepEqual(await tree(dataDir), before.data);
    assert.deepEqual(await tree(indexDir), before.index);
  });
});
