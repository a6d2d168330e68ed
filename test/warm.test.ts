/**
 * Warm snapshots against a real cluster: a ready template copy per snapshot, restores that clone
 * it, kills at every step of a warm and of a warm restore, the pre-restore backup dumped after
 * the swap (and what happens when it fails), cooling on delete and prune, and the limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nfrJson, serveNfr, spawnNfr, testEnv, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { waitFor } from './support/wait.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint, mutate, query, seed } from './support/data.js';
import { seededDatabase } from './support/setup.js';

const cluster = fileCluster();

// The clone path of a warm restore; spares (a rename instead of a clone) have test/spare.test.ts.
const setup = (prefix: string, extra: Env = {}) => seededDatabase(cluster, prefix, { controls: 1500, env: { NFR_WARM_SPARE: 'false', ...extra } });

/** Template databases the server holds for `live`, with whether they refuse connections. */
async function warmDatabases(live: string): Promise<{ name: string; template: boolean; allowconn: boolean }[]> {
  return cluster.admin(async (c) =>
    (
      await c.query<{ datname: string; datistemplate: boolean; datallowconn: boolean }>(
        "select datname, datistemplate, datallowconn from pg_database where starts_with(datname, $1) and datname ~ '__nfr_warm' order by 1",
        [live],
      )
    ).rows.map((r) => ({ name: r.datname, template: r.datistemplate, allowconn: r.datallowconn })),
  );
}

async function leftovers(live: string): Promise<string[]> {
  return (await cluster.databases()).filter((d) => d.startsWith(`${live}__nfr`) && !d.endsWith('__nfr_prev') && !/__nfr_warm_\d{4}_\d{4,}$/.test(d));
}

async function warmIds(env: Env): Promise<string[]> {
  const list = await nfrJson(['snapshot', 'list'], env);
  return list.body.snapshots.filter((s: any) => s.warm).map((s: any) => s.id);
}

describe('warm snapshots', () => {
  it('restores a warm snapshot by cloning it: identical data, the copy kept, the backup dumped after the swap', async () => {
    const { url, name, env } = await setup('warmtrip');
    const snapshotState = await fingerprint(url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'golden', '--warm'], env);
    assert.equal(created.code, 0, created.stderr);
    const id: string = created.body.id;
    assert.equal(created.body.warm.database, `${name}__nfr_warm_${id.slice(5).replace('-', '_')}`);
    assert.deepEqual(await warmDatabases(name), [{ name: created.body.warm.database, template: true, allowconn: false }]);
    const shown = await nfrJson(['snapshot', 'show', '--id', id], env);
    assert.ok(shown.body.warm.size_bytes > 1_000_000, JSON.stringify(shown.body.warm));
    assert.deepEqual(await warmIds(env), [id]);
    // Warming again is a no-op that says so.
    const again = await nfrJson(['snapshot', 'warm', '--id', id], env);
    assert.equal(again.body.created, false);

    await mutate(url);
    const changed = await fingerprint(url);
    const restored = await nfrJson(['snapshot', 'restore', '--id', id, '--yes'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.body.restored_from, 'warm copy');
    assert.deepEqual(await fingerprint(url), snapshotState);
    assert.ok(restored.body.blocked_ms < 1000);
    assert.deepEqual((await warmDatabases(name)).map((d) => d.name), [created.body.warm.database], 'the warm copy stays for the next restore');
    const after = await nfrJson(['snapshot', 'show', '--id', id], env);
    assert.ok(after.body.warm.last_restored_at);

    // The pre-restore backup was dumped from the replaced database: it holds the changed state.
    const backupId: string = restored.body.pre_restore_backup_id;
    assert.ok(backupId);
    const backup = await nfrJson(['snapshot', 'show', '--id', backupId], env);
    assert.deepEqual(backup.body.tags, ['pre-restore']);
    assert.equal(backup.body.database.name, name, 'recorded under the live name, not the kept one');
    const status = await nfrJson(['snapshot', 'status'], env);
    assert.equal(status.body.last_restore.backup.status, 'completed');
    assert.equal(status.body.backup_missing, null);
    const back = await nfrJson(['snapshot', 'restore', '--id', backupId, '--yes', '--skip-backup'], env);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.body.restored_from, 'archive');
    assert.deepEqual(await fingerprint(url), changed);

    // Undo still swaps back by rename after a warm restore.
    const undo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.equal(undo.code, 0, undo.stderr);
    assert.deepEqual(await fingerprint(url), snapshotState);
  });

  it('restores ten times in a row from one warm copy, each time with the snapshot data', async () => {
    const { url, name, env } = await setup('warmten');
    const snapshotState = await fingerprint(url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'reset target', '--warm'], env);
    for (let i = 0; i < 10; i++) {
      await query(url, `update src_controls_ver_control set title = 'round ${i}' where version_id = (select min(version_id) from src_controls_ver_control)`);
      const r = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], env);
      assert.equal(r.code, 0, `restore ${i + 1}: ${r.stderr}`);
      assert.equal(r.body.restored_from, 'warm copy');
      assert.deepEqual(await fingerprint(url), snapshotState, `restore ${i + 1}`);
    }
    assert.equal((await warmDatabases(name)).length, 1);
    assert.deepEqual(await leftovers(name), []);
  });

  it('migrates a warm restore with --force across a schema change, leaving the warm copy as it was', async () => {
    const db = await cluster.createDatabase('warmforce');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('warmforce-backups'), NFR_HOME: cluster.tempDir('warmforce-home'), NFR_WARM_SPARE: 'false' });
    await query(db.url, 'create table legacy_notes (id int primary key, body text)');
    await query(db.url, "insert into legacy_notes select g, 'note ' || g from generate_series(1, 42) g");
    const old = await nfrJson(['snapshot', 'create', '--name', 'pre-schema', '--warm'], env);
    assert.equal(old.code, 0, old.stderr);
    await seed(db.url, { controls: 5 });
    const refused = await nfrJson(['snapshot', 'restore', '--id', old.body.id, '--yes'], env);
    assert.equal(refused.code, 5);
    const forced = await nfrJson(['snapshot', 'restore', '--id', old.body.id, '--yes', '--force', '--skip-backup'], env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.body.restored_from, 'warm copy');
    assert.deepEqual(forced.body.schema.migrated, ['0001_initial-schema', '0002_drop-record-hash', '0003_uploads-in-control-database', '0004_history-time-indexes']);
    assert.equal((await query(db.url, 'select count(*)::int as n from legacy_notes'))[0].n, 42);
    assert.equal((await query(db.url, 'select count(*)::int as n from src_controls_ver_control'))[0].n, 0);
    // The template still has the snapshot's schema: the next forced restore migrates again.
    const twice = await nfrJson(['snapshot', 'restore', '--id', old.body.id, '--yes', '--force', '--skip-backup'], env);
    assert.deepEqual(twice.body.schema.migrated, ['0001_initial-schema', '0002_drop-record-hash', '0003_uploads-in-control-database', '0004_history-time-indexes']);
  });

  it('leaves nothing that looks warm after a warm killed at any step, and warms on the next try', async () => {
    const { name, env } = await setup('warmkill');
    const created = await nfrJson(['snapshot', 'create', '--name', 'to warm'], env);
    for (const point of ['restoring', 'warm-checked', 'warm-renamed']) {
      const child = spawnNfr(['snapshot', 'warm', '--id', created.body.id], { ...env, NFR_FAULT_POINT: point });
      await waitForStderr(child, new RegExp(`nfr-fault-point: ${point}`));
      child.kill('SIGKILL');
      await waitForExit(child);
      assert.deepEqual(await warmIds(env), [], `list shows nothing warm after a kill at ${point}`);
      assert.equal((await nfrJson(['snapshot', 'recover'], env)).code, 0);
      const status = await nfrJson(['snapshot', 'status'], env);
      assert.equal(status.code, 0, status.stderr);
      assert.deepEqual(status.body.warm, []);
      assert.deepEqual(await warmDatabases(name), [], `no template database left after a kill at ${point}`);
      assert.deepEqual(await leftovers(name), [], `no building database left after a kill at ${point}`);
    }
    const warmed = await nfrJson(['snapshot', 'warm', '--id', created.body.id], env);
    assert.equal(warmed.code, 0, warmed.stderr);
    assert.deepEqual(await warmIds(env), [created.body.id]);
  });

  it('keeps the live database old or new, and the warm copy intact, when a warm restore is killed at any step', async () => {
    const { url, name, env } = await setup('warmrestorekill');
    const snapshotState = await fingerprint(url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'target', '--warm'], env);
    await mutate(url);
    let liveState = await fingerprint(url);
    const points = [
      { point: 'restored', expect: 'old' },
      { point: 'before-swap', expect: 'old' },
      { point: 'swap-blocked', expect: 'old' },
      { point: 'swap-uncommitted', expect: 'old' },
      { point: 'swapped', expect: 'new' },
      { point: 'backup-after-swap', expect: 'new' },
    ] as const;
    for (const { point, expect } of points) {
      if (expect === 'new') {
        // A state of its own, so "new" and "old" differ at this step too.
        await query(url, `update src_controls_ver_control set title = title || ' (${point})' where version_id = (select max(version_id) from src_controls_ver_control)`);
        liveState = await fingerprint(url);
      }
      const child = spawnNfr(['snapshot', 'restore', '--id', created.body.id, '--yes'], { ...env, NFR_FAULT_POINT: point });
      await waitForStderr(child, new RegExp(`nfr-fault-point: ${point}`));
      child.kill('SIGKILL');
      await waitForExit(child);
      const recovered = await nfrJson(['snapshot', 'recover'], env);
      assert.equal(recovered.code, 0, recovered.stderr);
      const status = await nfrJson(['snapshot', 'status'], env);
      assert.deepEqual(await fingerprint(url), expect === 'old' ? liveState : snapshotState, `after a kill at ${point} the live database is fully ${expect}`);
      assert.deepEqual(await leftovers(name), [], `no staging database left after a kill at ${point}`);
      assert.deepEqual((await warmDatabases(name)).map((d) => [d.template, d.allowconn]), [[true, false]], `the warm copy is intact after a kill at ${point}`);
      if (point === 'backup-after-swap') {
        // Killed while dumping the replaced database: that database is the only copy of the old state.
        assert.match(status.body.backup_missing, /did not complete/);
        const health = await nfrJson(['snapshot', 'health'], env);
        assert.equal(health.code, 8);
        assert.ok(health.body.checks.some((c: any) => c.name === 'pre_restore_backup' && c.status === 'unhealthy'));
      }
    }
    // The next restore backs the kept database up before dropping it.
    const before = (await nfrJson(['snapshot', 'list'], env)).body.snapshots.length;
    const next = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], env);
    assert.equal(next.code, 0, next.stderr);
    const list = (await nfrJson(['snapshot', 'list'], env)).body.snapshots;
    assert.equal(list.length, before + 1);
    const secured = list[list.length - 1];
    assert.match(secured.name, /backup of the state before the restore of/);
    const health = await nfrJson(['snapshot', 'health'], env);
    assert.ok(!health.body.checks.some((c: any) => c.name === 'pre_restore_backup'), JSON.stringify(health.body.checks));
    // That backup holds the state the killed restore replaced.
    const back = await nfrJson(['snapshot', 'restore', '--id', secured.id, '--yes', '--skip-backup'], env);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(await fingerprint(url), liveState);
  });

  it('reports a failed backup after the swap, keeps the replaced database, and undo still works', async () => {
    const { url, name, env } = await setup('warmbackupfail');
    const snapshotState = await fingerprint(url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'target'], env);
    await mutate(url);
    const changed = await fingerprint(url);
    const r = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes'], { ...env, NFR_FAULT_POINT: 'backup-after-swap:fail' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.body.pre_restore_backup_id, null);
    assert.match(r.body.pre_restore_backup_error, /pre-restore backup failed .*kept as ".*__nfr_prev"/);
    assert.deepEqual(await fingerprint(url), snapshotState, 'the restore itself went through');
    assert.ok((await cluster.databases()).includes(`${name}__nfr_prev`));
    const status = await nfrJson(['snapshot', 'status'], env);
    assert.equal(status.body.last_restore.backup.status, 'failed');
    assert.match(status.body.backup_missing, /failed/);
    const health = await nfrJson(['snapshot', 'health'], env);
    assert.equal(health.code, 8);
    const undo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.equal(undo.code, 0, undo.stderr);
    assert.deepEqual(await fingerprint(url), changed);
    // Undone, the old state is live again: nothing is missing a backup any more.
    assert.equal((await nfrJson(['snapshot', 'status'], env)).body.backup_missing, null);
  });

  it('cools a snapshot on delete and prune, and keeps within NFR_WARM_MAX, pinned copies aside', async () => {
    const { name, env } = await setup('warmlimit', { NFR_WARM_MAX: '1' });
    const a = (await nfrJson(['snapshot', 'create', '--name', 'a', '--warm'], env)).body.id;
    const pinned = (await nfrJson(['snapshot', 'create', '--name', 'pinned', '--tag', 'pinned', '--warm'], env)).body.id;
    assert.deepEqual(await warmIds(env), [a, pinned], 'a pinned copy does not count against the limit');
    const b = await nfrJson(['snapshot', 'create', '--name', 'b'], env);
    const warmedB = await nfrJson(['snapshot', 'warm', '--id', b.body.id], env);
    assert.equal(warmedB.code, 0, warmedB.stderr);
    assert.deepEqual(warmedB.body.cooled, [a], 'the least recently restored copy is cooled first');
    assert.deepEqual(await warmIds(env), [pinned, b.body.id]);
    assert.equal((await warmDatabases(name)).length, 2);

    const cool = await nfrJson(['snapshot', 'cool', '--id', pinned], env);
    assert.equal(cool.body.cooled, true);
    assert.ok(cool.body.freed_bytes > 0);
    assert.equal((await nfrJson(['snapshot', 'cool', '--id', pinned], env)).body.cooled, false);

    const deleted = await nfrJson(['snapshot', 'delete', '--id', b.body.id, '--yes'], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(await warmDatabases(name), [], 'delete drops the warm copy');

    // Prune: with no daily/weekly/monthly slots every unpinned snapshot goes, warm copy included.
    const c = (await nfrJson(['snapshot', 'create', '--name', 'c', '--warm'], env)).body.id;
    assert.deepEqual(await warmIds(env), [c]);
    const pruneEnv = { ...env, NFR_RETENTION_DAILY: '0', NFR_RETENTION_WEEKLY: '0', NFR_RETENTION_MONTHLY: '0' };
    const pruned = await nfrJson(['snapshot', 'prune', '--yes'], pruneEnv);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.ok(pruned.body.deleted.some((d: any) => d.id === c));
    assert.deepEqual(await warmDatabases(name), [], 'prune drops the warm copy');
    assert.deepEqual(await warmIds(env), []);

    const disabled = await nfrJson(['snapshot', 'warm', '--id', pinned], { ...env, NFR_WARM_MAX: '0' });
    assert.equal(disabled.code, 2);
    assert.match(disabled.body.error.message, /NFR_WARM_MAX=0/);
  });
});

describe('warm snapshots through the API', () => {
  it('warms as a job, creates warm, restores from the warm copy and cools', async () => {
    const token = 'admin-token-warm-0123456789';
    const { url, name, env } = await setup('warmapi', { API_TOKENS: `admin:${token}` });
    const server = await serveNfr(env);
    const base = server.base;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as any };
    };
    const finished = (jobId: string) =>
      waitFor(
        async () => {
          const j = await call('GET', `/api/v2/jobs/${jobId}`);
          return j.json.status === 'completed' || j.json.status === 'failed' ? j.json : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100, what: `job ${jobId} to end` },
      );
    try {
      const snapshotState = await fingerprint(url);
      const created = await call('POST', '/api/v2/devdata/snapshots/create', { name: 'api golden', warm: true });
      assert.equal(created.status, 202);
      const createJob = await finished(created.json.job_id);
      assert.equal(createJob.status, 'completed', JSON.stringify(createJob.error));
      assert.ok(createJob.result.warm.size_bytes > 0);
      const id: string = created.json.snapshot_id;
      const listed = await call('GET', '/api/v2/devdata/snapshots');
      assert.ok(listed.json.snapshots.find((s: any) => s.id === id).warm);
      assert.equal((await call('GET', `/api/v2/devdata/snapshots/${id}`)).json.warm.database, `${name}__nfr_warm_${id.slice(5).replace('-', '_')}`);

      await mutate(url);
      const restore = await call('POST', `/api/v2/devdata/snapshots/${id}/restore`, { skip_backup: true });
      const restoreJob = await finished(restore.json.job_id);
      assert.equal(restoreJob.status, 'completed', JSON.stringify(restoreJob.error));
      assert.equal(restoreJob.result.restored_from, 'warm copy');
      assert.deepEqual(await fingerprint(url), snapshotState);

      const cooled = await call('POST', `/api/v2/devdata/snapshots/${id}/cool`, {});
      assert.equal(cooled.status, 200);
      assert.equal(cooled.json.cooled, true);
      assert.deepEqual(await warmDatabases(name), []);
      const warmed = await call('POST', `/api/v2/devdata/snapshots/${id}/warm`, {});
      assert.equal(warmed.status, 202);
      const warmJob = await finished(warmed.json.job_id);
      assert.equal(warmJob.kind, 'snapshot.warm');
      assert.equal(warmJob.status, 'completed', JSON.stringify(warmJob.error));
      assert.equal(warmJob.progress_percent, 100);
      assert.equal((await warmDatabases(name)).length, 1);
      assert.equal((await call('POST', '/api/v2/devdata/snapshots/SNAP-2026-9999/warm', {})).status, 404);
    } finally {
      await server.stop();
    }
  });
});
