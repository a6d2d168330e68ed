/**
 * Instant restore: a warm snapshot's ready spare is renamed into place. Round trip with a
 * fingerprint of every table, undo, ten spare restores in a row (each one leaving the next spare
 * ready), kills at every new step (taking the spare, checking and renaming a new one) leaving
 * nothing the next operation does not clean, and NFR_WARM_SPARE=false. The next spare is made
 * off the restore's critical path: by a detached `nfr snapshot spare` the CLI starts as it exits,
 * or by a running server's loop; both are killed here too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nfrJson, serveNfr, spawnNfr, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint, mutate, query } from './support/data.js';
import { seededDatabase } from './support/setup.js';
import { isAlive, lockHolder, nextSpare, preparersKilledAtEnd, spareOf } from './support/spare.js';
import { waitFor } from './support/wait.js';

const cluster = fileCluster();
/** Detached preparers this file made hang at a fault point. */
const preparers = preparersKilledAtEnd();

const setup = (prefix: string, extra: Env = {}) => seededDatabase(cluster, prefix, { controls: 1500, env: extra });

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

/**
 * A restore whose detached preparer stops at `point` (it inherits NFR_FAULT_POINT): waits until
 * the preparer is there (`reached`), SIGKILLs it, and returns the restore's result.
 */
async function restoreThenKillPreparer(env: Env, id: string, point: string, reached: () => Promise<boolean>): Promise<any> {
  const r = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: point });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.body.restored_from === 'spare' || r.body.restored_from === 'warm copy', true);
  const holder = await waitFor(async () => {
    const h = await lockHolder(env);
    return h?.operation === 'spare' && (await reached()) ? h : null;
  }, { what: `the detached preparer at ${point}`, intervalMs: 100 });
  preparers.add(holder.pid);
  process.kill(holder.pid, 'SIGKILL');
  await waitFor(async () => !isAlive(holder.pid), { what: 'the preparer gone' });
  preparers.delete(holder.pid);
  return r.body;
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
    // The command has exited; the next spare appears with nobody acting (a detached preparer).
    const next = await nextSpare(env, id, spare.prepared_at);
    assert.equal(next.database, spare.database, 'the next spare was prepared');
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
    let since = '';
    for (let i = 1; i <= 10; i++) {
      // Each restore's detached preparer has made the next spare by the time the next one runs.
      since = (await nextSpare(env, created.body.id, since)).prepared_at;
      await change(url, `run${i}`);
      const r = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.body.restored_from, 'spare', `restore ${i}`);
      assert.deepEqual(await fingerprint(url), golden, `restore ${i}`);
    }
    await nextSpare(env, created.body.id, since);
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
    let since = (await nextSpare(env, id)).prepared_at;
    assert.deepEqual(await leftovers(name), []);

    // The detached preparer killed while preparing the next spare (after its clone, after its
    // rename): nothing usable is left half-made; `status` shows the leftover, the next operation
    // drops it and restores from the warm copy, and its own preparer makes a good spare.
    const halfMade = {
      'spare-checked': async () => (await cluster.databases()).includes(`${name}__nfr_sparing`),
      'spare-renamed': async () => (await spares(name)).length === 1 && (await spareOf(env, id)) === null,
    };
    for (const [point, reached] of Object.entries(halfMade)) {
      await change(url, point);
      const r = await restoreThenKillPreparer(env, id, point, reached);
      assert.equal(r.restored_from, 'spare', `the restore before ${point} took the ready spare`);
      assert.deepEqual(await fingerprint(url), golden, `the restore had completed before ${point}`);
      assert.equal(await spareOf(env, id), null, `no spare recorded after a kill at ${point}`);
      const status = await nfrJson(['snapshot', 'status'], env);
      assert.ok(
        status.body.leftovers.some((l: string) => (point === 'spare-checked' ? l === `database ${name}__nfr_sparing` : l.startsWith('unrecorded spare '))),
        `status shows what the killed preparer left at ${point}: ${status.body.leftovers.join('; ')}`,
      );
      await change(url, `${point}-after`);
      const again = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.body.restored_from, 'warm copy', `no half-made spare was used after a kill at ${point}`);
      assert.deepEqual(await fingerprint(url), golden);
      const s = await nextSpare(env, id, since);
      since = s.prepared_at;
      assert.deepEqual(await leftovers(name), [], `nothing left after a kill at ${point}`);
      assert.deepEqual(await spares(name), [{ name: s.database, allowconn: false }], `a good spare again after a kill at ${point}`);
    }
  });

  it('a running server prepares the next spare; a server killed while preparing it leaves nothing the next one does not clean', async () => {
    const { url, name, env } = await setup('spareserve', { NFR_RECOVER_INTERVAL_SECONDS: '1' });
    const golden = await fingerprint(url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'golden', '--warm'], env);
    assert.equal(created.code, 0, created.stderr);
    const id: string = created.body.id;
    const first = await spareOf(env, id);
    // This server's spare loop stops after renaming its spare, before recording it, and is killed there.
    const doomed = await serveNfr({ ...env, NFR_FAULT_POINT: 'spare-renamed' });
    try {
      await change(url, 'served');
      const r = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.body.restored_from, 'spare');
      assert.deepEqual(await fingerprint(url), golden);
      // The CLI left the spare to the server (its detached preparer saw the server alive).
      await waitFor(async () => (await lockHolder(env))?.pid === doomed.child.pid && (await spares(name)).length === 1 && (await spareOf(env, id)) === null, { what: "the server's spare loop at spare-renamed", intervalMs: 100 });
    } finally {
      doomed.child.kill('SIGKILL');
      await waitForExit(doomed.child);
    }
    const status = await nfrJson(['snapshot', 'status'], env);
    assert.ok(status.body.leftovers.some((l: string) => l.startsWith('unrecorded spare ')), status.body.leftovers.join('; '));
    // The next server drops the unrecorded spare and makes a good one, with nobody acting.
    const server = await serveNfr(env);
    try {
      const s = await nextSpare(env, id, first.prepared_at);
      assert.deepEqual(await spares(name), [{ name: s.database, allowconn: false }]);
      assert.deepEqual(await leftovers(name), []);
      await change(url, 'served-again');
      const again = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.body.restored_from, 'spare');
      await nextSpare(env, id, s.prepared_at);
    } finally {
      await server.stop();
    }
  });

  it('an operation started while a spare is being prepared waits for it instead of failing on the lock', async () => {
    const { url, env } = await setup('sparewait');
    const created = await nfrJson(['snapshot', 'create', '--name', 'golden', '--warm'], env);
    assert.equal(created.code, 0, created.stderr);
    const id: string = created.body.id;
    const since = (await spareOf(env, id)).prepared_at;
    // Held at a point of the background preparation until it is told to go on (SIGUSR2).
    await change(url, 'held');
    const restored = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'spare-checked:hold' });
    assert.equal(restored.code, 0, restored.stderr);
    const holder = await waitFor(async () => {
      const h = await lockHolder(env);
      return h?.operation === 'spare' && (await cluster.databases()).includes(`${restored.body.database}__nfr_sparing`) ? h : null;
    }, { what: 'the preparer holding the lock', intervalMs: 100 });
    preparers.add(holder.pid);
    // NFR_LOCK_WAIT_SECONDS=0, yet the restore waits for the spare and says so.
    const waiting = spawnNfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup', '--json'], env);
    let out = '';
    waiting.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitForStderr(waiting, /waits for the spare being prepared in the background/);
    process.kill(holder.pid, 'SIGUSR2');
    assert.equal(await waitForExit(waiting), 0);
    preparers.delete(holder.pid);
    assert.equal(JSON.parse(out).restored_from, 'spare', 'it took the spare that was being prepared');
    // `nfr snapshot spare` waits for (or is) the preparer the second restore started.
    const ready = await nfrJson(['snapshot', 'spare', '--id', id], env);
    assert.equal(ready.code, 0, ready.stderr);
    assert.equal(ready.body.status, 'prepared');
    assert.ok(ready.body.spare.prepared_at > since);
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
