/**
 * Instant restore: a warm snapshot's ready spare is renamed into place. Round trip with a
 * fingerprint of every table, undo, ten spare restores in a row (each one leaving the next spare
 * ready), kills at every new step (taking the spare, checking and renaming a new one) leaving
 * nothing the next operation does not clean, and NFR_WARM_SPARE=false.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nfrJson, spawnNfr, testEnv, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { TestCluster } from './support/cluster.js';
import { fingerprint, mutate, query, seed } from './support/data.js';

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start();
});
after(async () => {
  await cluster?.stop();
});

async function setup(prefix: string, extra: Env = {}): Promise<{ url: string; name: string; env: Env }> {
  const db = await cluster.createDatabase(prefix);
  await seed(db.url, { controls: 1500 });
  return { ...db, env: testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir(`${prefix}-backups`), NFR_HOME: cluster.tempDir(`${prefix}-home`), ...extra }) };
}

/** Databases derived from `live` other than its warm copies, spares and the one kept for undo. */
async function leftovers(live: string): Promise<string[]> {
  return (await cluster.databases()).filter((d) => d.startsWith(`${live}__nfr`) && !d.endsWith('__nfr_prev') && !/__nfr_(warm|spare)_\d{4}_\d{4,}$/.test(d));
}

async function spares(live: string): Promise<{ name: string; allowconn: boolean }[]> {
  return cluster.admin(async (c) =>
    (await c.query<{ datname: string; datallowconn: boolean }>("select datname, datallowconn from pg_database where starts_with(datname, $1) and datname ~ '__nfr_spare_' order by 1", [live])).rows.map((r) => ({
      name: r.datname,
      allowconn: r.datallowconn,
    })),
  );
}

async function spareOf(env: Env, id: string): Promise<any> {
  const shown = await nfrJson(['snapshot', 'show', '--id', id], env);
  assert.equal(shown.code, 0, shown.stderr);
  return shown.body.warm?.spare ?? null;
}

/** A versioned change of the live data, so every restore has something to undo. */
async function change(url: string, tag: string): Promise<void> {
  await query(url, `update src_controls_ver_control set title = title || $1 where control_id in (select control_id from src_controls_ver_control order by control_id limit 25)`, [` (${tag})`]);
  await query(url, `insert into src_orgs_ref_function (function_id) values ($1)`, [`F-${tag}`]);
}

describe('instant restore from a spare', () => {
  it('renames the spare into place: identical data, undo, the next spare prepared after the report', async () => {
    const { url, name, env } = await setup('spare');
    const golden = await fingerprint(url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'golden', '--warm'], env);
    assert.equal(created.code, 0, created.stderr);
    const id: string = created.body.id;
    const spare = await spareOf(env, id);
    assert.ok(spare, 'warming makes the first spare');
    assert.equal(spare.rows, created.body.tables.reduce((n: number, t: any) => n + t.rows, 0), 'its row counts were checked');
    assert.deepEqual(await spares(name), [{ name: spare.database, allowconn: false }], 'nobody can connect to a spare and change it');

    await mutate(url);
    const changed = await fingerprint(url);
    const restored = await nfrJson(['snapshot', 'restore', '--id', id, '--yes'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.body.restored_from, 'spare');
    assert.deepEqual(await fingerprint(url), golden);
    assert.ok(restored.body.pre_restore_backup_id, 'the pre-restore backup is still dumped after the swap');
    const next = await spareOf(env, id);
    assert.ok(next && next.database === spare.database && next.prepared_at > spare.prepared_at, 'the next spare was prepared');
    assert.deepEqual(await spares(name), [{ name: spare.database, allowconn: false }]);
    assert.deepEqual(await leftovers(name), []);

    const undone = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.equal(undone.code, 0, undone.stderr);
    assert.deepEqual(await fingerprint(url), changed);
    const backup = await nfrJson(['snapshot', 'restore', '--id', restored.body.pre_restore_backup_id, '--yes', '--skip-backup'], env);
    assert.equal(backup.code, 0, backup.stderr);
    assert.deepEqual(await fingerprint(url), changed, 'the backup holds the replaced state');
  });

  it('restores from a spare ten times in a row, each time the golden data', async () => {
    const { url, name, env } = await setup('spare10');
    const golden = await fingerprint(url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'golden', '--warm'], env);
    assert.equal(created.code, 0, created.stderr);
    for (let i = 1; i <= 10; i++) {
      await change(url, `run${i}`);
      const r = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.body.restored_from, 'spare', `restore ${i}`);
      assert.deepEqual(await fingerprint(url), golden, `restore ${i}`);
    }
    assert.equal((await spares(name)).length, 1);
    assert.deepEqual(await leftovers(name), []);
  });

  it('leaves the live database whole and nothing behind after kills at every new step', async () => {
    const { url, name, env } = await setup('sparekill');
    const golden = await fingerprint(url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'golden', '--warm'], env);
    const id: string = created.body.id;

    // Killed right after the spare was taken (renamed to staging), before the swap: live is old.
    await change(url, 'before-kill');
    const old = await fingerprint(url);
    const restore = spawnNfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'spare-taken' });
    await waitForStderr(restore, /nfr-fault-point: spare-taken/);
    restore.kill('SIGKILL');
    await waitForExit(restore);
    assert.deepEqual(await fingerprint(url), old, 'the live database is untouched');
    // The next operation cleans the staging database and the stale spare record, and restores
    // from the warm copy instead (then prepares a new spare).
    const next = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.body.restored_from, 'warm copy');
    assert.deepEqual(await fingerprint(url), golden);
    assert.deepEqual(await leftovers(name), []);
    assert.ok(await spareOf(env, id), 'a new spare after the restore');

    // Killed while preparing the next spare (after its check, after its rename): nothing usable is
    // left half-made; the next operation drops it and the one after makes a good spare.
    for (const point of ['spare-checked', 'spare-renamed']) {
      await change(url, point);
      const child = spawnNfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: point });
      await waitForStderr(child, new RegExp(`nfr-fault-point: ${point}`));
      child.kill('SIGKILL');
      await waitForExit(child);
      assert.deepEqual(await fingerprint(url), golden, `the restore had completed before ${point}`);
      assert.equal(await spareOf(env, id), null, `no spare recorded after a kill at ${point}`);
      await change(url, `${point}-after`);
      const again = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.body.restored_from, 'warm copy', `no half-made spare was used after a kill at ${point}`);
      assert.deepEqual(await fingerprint(url), golden);
      assert.deepEqual(await leftovers(name), [], `nothing left after a kill at ${point}`);
      const s = await spareOf(env, id);
      assert.ok(s, `a good spare again after a kill at ${point}`);
      assert.deepEqual(await spares(name), [{ name: s.database, allowconn: false }]);
    }
  });

  it('keeps no spare with NFR_WARM_SPARE=false, and counts spares against NFR_WARM_MAX', async () => {
    const { url, name, env } = await setup('sparecfg', { NFR_WARM_SPARE: 'false' });
    const created = await nfrJson(['snapshot', 'create', '--name', 'golden', '--warm'], env);
    assert.equal(created.code, 0, created.stderr);
    assert.deepEqual(await spares(name), []);
    await change(url, 'x');
    const r = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], env);
    assert.equal(r.body.restored_from, 'warm copy');
    assert.deepEqual(await spares(name), []);

    // With room for one copy only, the copy has no spare.
    const one = { ...env, NFR_WARM_SPARE: 'true', NFR_WARM_MAX: '1' };
    const warm = await nfrJson(['snapshot', 'warm', '--id', created.body.id], one);
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(warm.body.spare.status, 'skipped');
    assert.match(warm.body.spare.reason, /NFR_WARM_MAX=1/);
    assert.deepEqual(await spares(name), []);
    const two = { ...env, NFR_WARM_SPARE: 'true', NFR_WARM_MAX: '2' };
    const warm2 = await nfrJson(['snapshot', 'warm', '--id', created.body.id], two);
    assert.equal(warm2.body.spare.status, 'prepared');
    assert.equal((await spares(name)).length, 1);
  });
});
