/**
 * A spare restore does not drop the database the previous restore kept for undo on its critical
 * path: it renames it to `<db>__nfr_discard` and the drop happens after the report (the detached
 * preparer, a server's spare loop, or the next operation's recovery). Kills at the new steps —
 * right after the rename, and at the drop — leave the live database whole, undo clearly refused,
 * health counting the discard's size, and nothing the next operation does not clean, recorded as
 * expected work rather than an interruption. A server with NFR_WARM_SPARE=false does not make the
 * CLI leave the next spare to it.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfrJson, serveNfr, spawnNfr, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint, query } from './support/data.js';
import { seededDatabase } from './support/setup.js';
import { isAlive, lockHolder, nextSpare, preparersKilledAtEnd } from './support/spare.js';
import { waitFor } from './support/wait.js';

const cluster = fileCluster();
/** Detached preparers this file made hang at a fault point. */
const preparers = preparersKilledAtEnd();

const setup = (prefix: string, extra: Env = {}) => seededDatabase(cluster, prefix, { controls: 1500, env: extra });

/** Derived databases of `live` other than its warm copies and spares (the kept `prev` included). */
async function derived(live: string): Promise<string[]> {
  return (await cluster.databases()).filter((d) => d.startsWith(`${live}__nfr`) && !/__nfr_(warm|spare)_\d{4}_\d{4,}$/.test(d)).sort();
}

async function events(env: Env): Promise<any[]> {
  const text = await readFile(path.join(env.POSTGRES_BACKUP_PATH as string, '.state', 'events.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

async function change(url: string, tag: string): Promise<void> {
  await query(url, `update src_controls_ver_control set title = title || $1 where control_id in (select control_id from src_controls_ver_control order by control_id limit 25)`, [` (${tag})`]);
}

/** A snapshot warmed with its spare, and one spare restore done, so the next one has a kept database to discard. */
async function warmWithKept(prefix: string, extra: Env = {}) {
  const db = await setup(prefix, extra);
  const golden = await fingerprint(db.url);
  const created = await nfrJson(['snapshot', 'create', '--name', 'golden', '--warm'], db.env);
  assert.equal(created.code, 0, created.stderr);
  const id: string = created.body.id;
  let since = (await nextSpare(db.env, id)).prepared_at;
  await change(db.url, 'first');
  const first = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], db.env);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.body.restored_from, 'spare');
  since = (await nextSpare(db.env, id, since)).prepared_at;
  assert.deepEqual(await derived(db.name), [`${db.name}__nfr_prev`], 'the replaced database is kept for undo, nothing else');
  return { ...db, golden, id, since };
}

describe('the replaced database is dropped off the spare restore’s critical path', () => {
  it('a kill right after the kept database was renamed to the discard: live untouched, undo clearly refused, the next operation drops it as expected work', async () => {
    const { url, name, env, golden, id, since } = await warmWithKept('discardkill');
    await change(url, 'before-kill');
    const old = await fingerprint(url);
    const restore = spawnNfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'previous-discarded' });
    await waitForStderr(restore, /nfr-fault-point: previous-discarded/);
    restore.kill('SIGKILL');
    await waitForExit(restore);
    assert.deepEqual(await fingerprint(url), old, 'the live database is untouched');
    const names = await derived(name);
    assert.ok(names.includes(`${name}__nfr_discard`) && !names.includes(`${name}__nfr_prev`), `renamed, not dropped: ${names.join(', ')}`);

    // Undo has nothing to put back: refused with the reason (its recovery drops the discard first).
    const undo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.notEqual(undo.code, 0);
    assert.equal(undo.body.error.code, 'NOT_FOUND');
    assert.match(undo.body.error.message, /no longer exists; restore a snapshot instead/);
    assert.ok(!(await derived(name)).includes(`${name}__nfr_discard`), 'the discard was dropped by the next operation');
    const status = await nfrJson(['snapshot', 'status'], env);
    assert.equal(status.body.last_restore.previous_dropped, true);
    assert.equal(status.body.last_restore.undo_command, null, 'status no longer offers undo');
    assert.match(status.body.last_restore.no_undo_reason, /dropped the database that undo would bring back/);
    const log = await events(env);
    const dropped = log.filter((e) => e.operation === 'discard');
    assert.equal(dropped.length >= 1, true, 'the drop is recorded');
    assert.deepEqual(
      dropped.map((e) => [e.status, e.details.database]),
      dropped.map(() => ['completed', `${name}__nfr_discard`]),
      'as completed work, not an interruption',
    );
    assert.ok(!log.some((e) => e.status !== 'completed' && /__nfr_discard/.test(e.error ?? '')), 'no event calls the discard an interruption');

    // And a restore works again and leaves nothing behind.
    const again = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await fingerprint(url), golden);
    await nextSpare(env, id, since);
    assert.deepEqual(await derived(name), [`${name}__nfr_prev`]);
  });

  it('a kill while the discard waits and at its drop: health counts its size and stays healthy, the next operation drops it', async () => {
    const { url, name, env, golden, id } = await warmWithKept('discarddrop');
    const keptSize = Number(
      (await cluster.admin((c) => c.query<{ size: string }>('select pg_database_size(datname)::text as size from pg_database where datname = $1', [`${name}__nfr_prev`]))).rows[0]?.size,
    );
    await change(url, 'second');
    // The restore reports with the discard still there; its detached preparer (which inherits
    // the fault point) stops before dropping it, and is killed there.
    const r = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'discard-dropping' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.body.restored_from, 'spare');
    assert.deepEqual(await fingerprint(url), golden);
    const holder = await waitFor(async () => {
      const h = await lockHolder(env);
      return h?.operation === 'spare' ? h : null;
    }, { what: 'the detached preparer holding the lock', intervalMs: 50 });
    preparers.add(holder.pid);
    process.kill(holder.pid, 'SIGKILL');
    await waitFor(async () => !isAlive(holder.pid), { what: 'the preparer gone' });
    preparers.delete(holder.pid);
    assert.ok((await derived(name)).includes(`${name}__nfr_discard`));

    // Exactly at the drop: an operation stopped there and killed.
    const recover = spawnNfr(['snapshot', 'recover'], { ...env, NFR_FAULT_POINT: 'discard-dropping' });
    await waitForStderr(recover, /nfr-fault-point: discard-dropping/);
    recover.kill('SIGKILL');
    await waitForExit(recover);
    assert.ok((await derived(name)).includes(`${name}__nfr_discard`));

    // Health: a pending discard is disk the database server holds, not a leftover of a failure.
    const health = await nfrJson(['snapshot', 'health'], env);
    const check = (n: string) => health.body.checks.find((c: any) => c.name === n);
    assert.equal(check('staging_databases').status, 'healthy', JSON.stringify(check('staging_databases')));
    const warm = check('warm_copies');
    assert.deepEqual(
      warm.value.discarding.map((d: any) => d.database),
      [`${name}__nfr_discard`],
    );
    assert.ok(warm.value.discarding[0].size_bytes >= keptSize * 0.9, `its size is counted: ${JSON.stringify(warm.value)}`);
    assert.ok(warm.value.total_bytes >= warm.value.discarding[0].size_bytes, 'in the total');
    assert.match(warm.message, /being dropped after a restore/);

    // The next operation drops it (recorded as completed work) and a new spare follows.
    await change(url, 'third');
    const next = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(await fingerprint(url), golden);
    await nextSpare(env, id);
    assert.deepEqual(await derived(name), [`${name}__nfr_prev`], 'nothing left but the database kept for undo');
    const log = await events(env);
    assert.ok(log.some((e) => e.operation === 'discard' && e.status === 'completed' && e.details.size_bytes > 0));
    assert.ok(!log.some((e) => e.status !== 'completed' && /__nfr_discard/.test(e.error ?? '')));
    const undo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.equal(undo.code, 0, undo.stderr);
    assert.equal(undo.body.undone, true, 'undo of the last restore works');
  });

  it('a server with NFR_WARM_SPARE=false does not make the CLI leave the next spare to it; a server with spares on takes the discard and the spare', async () => {
    const { url, name, env, golden, id, since } = await warmWithKept('discardserve', { NFR_RECOVER_INTERVAL_SECONDS: '1' });
    const off = await serveNfr({ ...env, NFR_WARM_SPARE: 'false' });
    let last = since;
    try {
      await change(url, 'served-off');
      const r = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.body.restored_from, 'spare');
      // The CLI's own preparer makes it: the server, with spares off, would not.
      last = (await nextSpare(env, id, last)).prepared_at;
      assert.deepEqual(await derived(name), [`${name}__nfr_prev`]);
    } finally {
      await off.stop();
    }
    const on = await serveNfr(env);
    try {
      await change(url, 'served-on');
      // The CLI leaves both to this server: it drops the discard and prepares the spare.
      const r = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.body.restored_from, 'spare');
      assert.deepEqual(await fingerprint(url), golden);
      await nextSpare(env, id, last);
      await waitFor(async () => !(await derived(name)).includes(`${name}__nfr_discard`), { what: 'the server dropping the discard', intervalMs: 100 });
      assert.deepEqual(await derived(name), [`${name}__nfr_prev`]);
    } finally {
      await on.stop();
    }
  });
});
