/**
 * What happens when things go wrong mid-operation: a second process while a create runs,
 * SIGKILLed creates, SIGKILLed restores at every step, and lock files of dead processes.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { nfr, nfrJson, spawnNfr, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint, mutate } from './support/data.js';
import { waitFor } from './support/wait.js';
import { seededDatabase } from './support/setup.js';

const cluster = fileCluster();

const setup = (prefix: string, controls = 2000) => seededDatabase(cluster, prefix, { controls });

/** Holds an ACCESS EXCLUSIVE lock on a table so a pg_dump started now blocks until release. */
async function blockTable(url: string): Promise<{ release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('begin');
  await client.query('lock table src_controls_ver_control in access exclusive mode');
  return {
    release: async () => {
      await client.query('commit').catch(() => {});
      await client.end();
    },
  };
}

/**
 * Whether `pid` holds the operation lock and has reserved its snapshot id: a create takes the
 * lock first and names its snapshot on the holder a moment later (after recovering leftovers).
 */
async function lockHeldBy(env: Env, pid: number): Promise<boolean> {
  const s = await nfrJson(['snapshot', 'status'], env);
  return s.body.lock?.held === true && s.body.lock.holder?.pid === pid && typeof s.body.lock.holder?.snapshot_id === 'string';
}

async function snapshotIds(backups: string): Promise<string[]> {
  return (await readdir(backups)).filter((d) => d.startsWith('SNAP-')).sort();
}

describe('operation lock', () => {
  it('refuses a second process while a create runs; a SIGKILLed create leaves nothing completed', async () => {
    const { url, env, backups } = await setup('lock');
    const block = await blockTable(url);
    const first = spawnNfr(['snapshot', 'create', '--name', 'slow'], env);
    try {
      await waitFor(() => lockHeldBy(env, first.pid!), { what: 'the first create to hold the lock', timeoutMs: 120_000 });

      const second = await nfrJson(['snapshot', 'create', '--name', 'second'], env);
      assert.equal(second.code, 3, second.stderr);
      assert.equal(second.body.error.code, 'LOCKED');
      assert.match(second.body.error.message, new RegExp(`create of SNAP-\\d{4}-\\d{4} by pid ${first.pid}`));
      const prune = await nfrJson(['snapshot', 'prune', '--yes'], env);
      assert.equal(prune.code, 3, 'prune needs the same lock');

      first.kill('SIGKILL');
      await waitForExit(first);
    } finally {
      first.kill('SIGKILL');
      await block.release();
    }
    assert.deepEqual(await snapshotIds(backups), [], 'nothing listed as completed');
    assert.ok((await readdir(path.join(backups, '.tmp'))).length === 1, 'the killed create left its temp dir');
    assert.deepEqual((await nfrJson(['snapshot', 'list'], env)).body.snapshots, []);

    // The advisory lock died with the process: the next create runs and cleans the leftovers.
    const next = await nfrJson(['snapshot', 'create', '--name', 'after kill'], env);
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(await readdir(path.join(backups, '.tmp')), []);
    assert.deepEqual(await snapshotIds(backups), [next.body.id]);
    assert.equal((await nfrJson(['snapshot', 'verify', '--id', next.body.id], env)).code, 0);
    const health = await nfrJson(['snapshot', 'health'], env);
    const failures = health.body.checks.find((c: { name: string }) => c.name === 'failures');
    assert.ok(failures.value.recent.some((e: { status: string }) => e.status === 'interrupted'), 'the interruption is reported');
    // ... but the create that followed succeeded: no failure since the last success.
    assert.equal(failures.status, 'healthy');
    assert.equal(health.code, 0, JSON.stringify(health.body));
  });

  it('lets a waiting operation through once the holder finishes (NFR_LOCK_WAIT_SECONDS)', async () => {
    const { url, env } = await setup('wait', 100);
    const block = await blockTable(url);
    const first = spawnNfr(['snapshot', 'create', '--name', 'first'], env);
    await waitFor(() => lockHeldBy(env, first.pid!), { what: 'the first create to hold the lock', timeoutMs: 120_000 });
    const waiter = spawnNfr(['snapshot', 'create', '--name', 'waiter'], { ...env, NFR_LOCK_WAIT_SECONDS: '60' });
    // The waiter says so once it is queued behind the lock: release the holder only then.
    await waitForStderr(waiter, /create waits \(up to 60 s\) for the operation lock held by create/);
    await block.release();
    assert.equal(await waitForExit(first), 0);
    assert.equal(await waitForExit(waiter), 0);
    assert.equal((await nfrJson(['snapshot', 'list'], env)).body.snapshots.length, 2);
  });

  it('never blocks on a lock file left by a dead process', async () => {
    const { env, backups } = await setup('stale', 50);
    const lockFile = path.join(backups, '.locks', 'snapshot_operation.lock');
    await nfrJson(['snapshot', 'list'], env);
    await (await import('node:fs/promises')).mkdir(path.dirname(lockFile), { recursive: true });
    await writeFile(lockFile, JSON.stringify({ pid: 999_999, host: 'gone-host', operation: 'restore', snapshot_id: 'SNAP-2026-0007', database: 'x', started_at: '2026-01-01T00:00:00Z', backend_pid: 1 }));
    const status = await nfrJson(['snapshot', 'status'], env);
    assert.equal(status.body.lock.held, false);
    assert.equal(status.body.lock.stale_lock_file.pid, 999_999);
    const created = await nfrJson(['snapshot', 'create', '--name', 'despite stale lock'], env);
    assert.equal(created.code, 0, created.stderr);
    await assert.rejects(readFile(lockFile), 'the lock file is gone after the operation');
  });
});

describe('restore killed with SIGKILL', () => {
  // Each point is a step of the restore; before the swap commits the live database must be
  // exactly the old one, after it exactly the new one, and never anything in between.
  const points = [
    { point: 'restoring', expect: 'old' },
    { point: 'restored', expect: 'old' },
    { point: 'before-swap', expect: 'old' },
    { point: 'swap-blocked', expect: 'old' },
    { point: 'swap-uncommitted', expect: 'old' },
    { point: 'swapped', expect: 'new' },
  ] as const;

  it('leaves the live database fully old or fully new at every step', async () => {
    const { url, name, env } = await setup('killrestore');
    const snapshotState = await fingerprint(url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'target'], env);
    assert.equal(created.code, 0, created.stderr);
    await mutate(url);
    let liveState = await fingerprint(url);
    assert.notDeepEqual(liveState, snapshotState);

    for (const { point, expect } of points) {
      const child = spawnNfr(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: point });
      await waitForStderr(child, new RegExp(`nfr-fault-point: ${point}`));
      child.kill('SIGKILL');
      await waitForExit(child);

      if (point === 'restored') {
        // Until something repairs it, health calls the leftover staging database unhealthy.
        const health = await nfrJson(['snapshot', 'health'], env);
        assert.equal(health.code, 8, JSON.stringify(health.body));
        const staging = health.body.checks.find((c: { name: string }) => c.name === 'staging_databases');
        assert.equal(staging.status, 'unhealthy');
        assert.ok(staging.value.some((d: string) => d.startsWith(`${name}__nfr`)), JSON.stringify(staging.value));
      }
      // Recovery repairs what the kill left (a blocked live database, staging); status only reads.
      const pending = await nfrJson(['snapshot', 'status'], env);
      assert.equal(pending.code, 0, pending.stderr);
      const status = await nfrJson(['snapshot', 'recover'], env);
      assert.equal(status.code, 0, status.stderr);
      const leftovers = (await cluster.databases()).filter((d) => d.startsWith(`${name}__nfr`) && !d.endsWith('__nfr_prev'));
      assert.deepEqual(leftovers, [], `no staging database left after a kill at ${point}`);
      const allowed = await cluster.admin(async (c) => (await c.query('select datallowconn from pg_database where datname = $1', [name])).rows[0]?.datallowconn);
      assert.equal(allowed, true, `live database accepts connections after a kill at ${point}`);

      const now = await fingerprint(url);
      assert.deepEqual(now, expect === 'old' ? liveState : snapshotState, `after a kill at ${point} the live database is fully ${expect}`);
      if (expect === 'new') liveState = now;
    }

    // After all that, a normal restore still works and gives the snapshot's data.
    await mutate(url);
    const ok = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(await fingerprint(url), snapshotState);
  });

  it('keeps the live database when pg_restore itself is killed midway', async () => {
    const { url, name, env } = await setup('killtool', 20_000);
    const created = await nfrJson(['snapshot', 'create', '--name', 'target'], env);
    await mutate(url);
    const liveState = await fingerprint(url);
    const child = spawnNfr(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], env);
    // Wait until pg_restore is writing into the staging database, then kill nfr.
    await waitFor(
      async () =>
        cluster.admin(async (c) => ((await c.query("select 1 from pg_stat_activity where datname = $1 and application_name = 'nfr-tool'", [`${name}__nfr_staging`])).rowCount ?? 0) > 0),
      { what: 'pg_restore to start', timeoutMs: 120_000 },
    );
    child.kill('SIGKILL');
    await waitForExit(child);
    const r = await nfr(['snapshot', 'recover'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await fingerprint(url), liveState);
    assert.ok(!(await cluster.databases()).includes(`${name}__nfr_staging`));
  });
});
