/**
 * Safety (issue 19: 1, 2, 3, 6, 9): a full backup volume fails at once and frees the lock; status
 * only reads; recovery of what a dead operation left runs in every server (a live database a
 * killed swap left refusing connections comes back with nobody acting), at the start of every
 * operation and on demand; verification results are kept and drive retention and health.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ADMIN, API_TOKENS, READER, api, serve, type Server } from './support/api.js';
import { nfr, nfrJson, spawnNfr, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { controlsDb, csv, row } from './support/controls-fixtures.js';
import { query } from './support/data.js';
import { resolveConfig } from '../src/config.js';
import type { NfrError } from '../src/errors.js';
import { waitFor } from './support/wait.js';

const cluster = fileCluster();

/** The advisory locks nfr's operation lock uses ("NFR" namespace) that someone holds right now. */
async function operationLocksHeld(): Promise<number> {
  return cluster.admin(async (c) => (await c.query<{ n: number }>("select count(*)::int as n from pg_locks where locktype = 'advisory' and classid = x'4e4652'::int::oid and granted")).rows[0]?.n ?? -1);
}

/** Runs nfr, failing (and killing it) if it has not exited within `limitMs`: a hang is the defect. */
async function nfrWithin(args: string[], env: Env, limitMs: number): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const child = spawnNfr([...args, '--json'], env);
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const t0 = Date.now();
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const code = await waitForExit(child);
  clearTimeout(timer);
  const ms = Date.now() - t0;
  assert.ok(ms < limitMs, `nfr ${args.join(' ')} did not exit within ${limitMs} ms (hung); stderr: ${stderr}`);
  return { code: code ?? -1, stdout, stderr, ms };
}

/** Every regular file under dir (hidden ones too), relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve) => spawn(command, args, { stdio: 'ignore' }).on('close', (code) => resolve(code ?? 1)).on('error', () => resolve(1)));
}

/** Fills a volume to the last byte: `dd` until ENOSPC, then one-byte files until none fits. */
async function fillToTheLastByte(dir: string): Promise<void> {
  await run('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler')}`, 'bs=1M']);
  for (let i = 1; i < 1000; i++) {
    const full = await writeFile(path.join(dir, `filler-${i}`), 'x').then(
      () => false,
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOSPC') throw err;
        return true;
      },
    );
    if (full) return;
  }
  throw new Error(`${dir} did not fill up`);
}

describe('a full backup volume', () => {
  it('fails create, status and ingest at once with exit 15, frees the lock and leaves nothing', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('a full disk is simulated with a tmpfs, which needs root');
    const db = await controlsDb(cluster, 'fullvol');
    const volume = cluster.tempDir('fullvol-tmpfs');
    if ((await run('mount', ['-t', 'tmpfs', '-o', 'size=20m,mode=0755', 'tmpfs', volume])) !== 0) return t.skip('mount -t tmpfs failed: cannot simulate a full disk');
    try {
      const env = { ...db.env, POSTGRES_BACKUP_PATH: volume };
      const file = path.join(db.dir, 'controls.csv');
      await writeFile(file, csv([row('CTL-1'), row('CTL-2')]));
      // The repository exists (as after any first command), then the volume fills up.
      assert.equal((await nfrJson(['snapshot', 'list'], env)).code, 0);
      await fillToTheLastByte(volume);
      const before = await filesUnder(volume);

      for (const args of [['snapshot', 'create', '--name', 'a'], ['snapshot', 'status'], ['ingest', 'controls', file, '--no-enrich']]) {
        const r = await nfrWithin(args, env, 60_000);
        assert.equal(r.code, 15, `${args.join(' ')}: exit ${r.code}; stderr: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`no space left on the device holding ${volume.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), args.join(' '));
        assert.equal(await operationLocksHeld(), 0, `${args.join(' ')}: the operation lock is free afterwards`);
        assert.deepEqual(await filesUnder(volume), before, `${args.join(' ')}: no file left on the volume`);
      }
      assert.equal((await query(db.url, 'select count(*)::int as n from src_controls_ref_control'))[0].n, 0, 'the ingestion wrote nothing');
      // Status on a full volume still says what it knows (as JSON on stdout), and that it is full.
      const status = await nfrWithin(['snapshot', 'status'], env, 60_000);
      const body = JSON.parse(status.stdout);
      assert.equal(body.lock.held, false);
      assert.equal(body.backup_volume.full, true);

      // Space again: the same create goes through.
      await run('rm', ['-f', path.join(volume, 'filler')]);
      const ok = await nfrJson(['snapshot', 'create', '--name', 'fits now'], env);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      await run('umount', ['-l', volume]);
    }
  });
});

describe('recovery', () => {
  it('status only reads; `snapshot recover` repairs a swap killed with the live database blocked', async () => {
    const db = await controlsDb(cluster, 'readonly');
    const file = path.join(db.dir, 'controls.csv');
    await writeFile(file, csv([row('CTL-1'), row('CTL-2')]));
    assert.equal((await nfrJson(['ingest', 'controls', file, '--no-enrich'], db.env)).code, 0);
    const created = await nfrJson(['snapshot', 'create', '--name', 'target'], db.env);
    assert.equal(created.code, 0, created.stderr);
    // A restore without a pre-restore backup, then one killed in its swap (after it dropped the
    // database the first one replaced): nothing is left to undo to, and no backup either.
    assert.equal((await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], db.env)).code, 0);
    await killedInSwap(db.env, created.body.id);
    const allowConn = async () => (await cluster.admin((c) => c.query('select datallowconn from pg_database where datname = $1', [db.name]))).rows[0]?.datallowconn;
    assert.equal(await allowConn(), false, 'the kill left the live database refusing connections');

    for (let i = 0; i < 2; i++) {
      const status = await nfrJson(['snapshot', 'status'], db.env);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(status.body.lock.held, false);
      assert.ok(status.body.leftovers.some((l: string) => /unfinished swap .*refuses connections/.test(l)), JSON.stringify(status.body.leftovers));
      assert.ok(status.body.leftovers.some((l: string) => /__nfr_staging/.test(l)), JSON.stringify(status.body.leftovers));
      assert.equal(status.body.recovered, undefined, 'status repairs nothing');
      assert.equal(await allowConn(), false, 'status did not reopen it');
    }
    const human = await nfr(['snapshot', 'status'], db.env);
    assert.match(human.stdout, /leftovers +of a dead operation, repaired by a running server or `nfr snapshot recover`/);

    const recovered = await nfrJson(['snapshot', 'recover'], db.env);
    assert.equal(recovered.code, 0, recovered.stderr);
    assert.equal(recovered.body.repaired, true);
    assert.equal(recovered.body.reopened_database, true);
    assert.ok(recovered.body.dropped_databases.some((d: string) => d.endsWith('__nfr_staging')), JSON.stringify(recovered.body));
    assert.equal(await allowConn(), true);
    assert.deepEqual((await nfrJson(['snapshot', 'status'], db.env)).body.leftovers, []);
    const again = await nfr(['snapshot', 'recover'], db.env);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to recover/);

    // No undo, and status does not send the operator to a pre-restore backup that was never taken.
    const after = await nfrJson(['snapshot', 'status'], db.env);
    assert.equal(after.body.last_restore.undo_command, null);
    assert.match(after.body.last_restore.no_undo_reason, /took no pre-restore backup \(--skip-backup\)/);
    const text = await nfr(['snapshot', 'status'], db.env);
    assert.match(text.stdout, /no undo: .*took no pre-restore backup/);
    assert.doesNotMatch(text.stdout, /restore the pre-restore backup/);
  });

  it('a running server reopens the live database a killed swap left blocked, with nobody acting', async () => {
    const db = await controlsDb(cluster, 'selfheal');
    const file = path.join(db.dir, 'controls.csv');
    await writeFile(file, csv(Array.from({ length: 20 }, (_, i) => row(`CTL-${i}`, { title: `Privileged access review ${i}` }))));
    assert.equal((await nfrJson(['ingest', 'controls', file, '--no-enrich'], db.env)).code, 0);
    assert.equal((await nfrJson(['index'], db.env)).code, 0);
    const created = await nfrJson(['snapshot', 'create', '--name', 'target'], db.env);
    assert.equal(created.code, 0, created.stderr);
    const server = await serve({ ...db.env, API_TOKENS, NFR_RECOVER_INTERVAL_SECONDS: '1' });
    try {
      assert.equal((await api(server, 'GET', '/health', { token: null })).status, 200);
      // The route is for admins; with nothing to repair it says so.
      assert.equal((await api(server, 'POST', '/api/v2/devdata/snapshots/recover', { token: READER })).status, 403);
      const idle = await api(server, 'POST', '/api/v2/devdata/snapshots/recover', { token: ADMIN });
      assert.equal(idle.status, 200, idle.text);
      assert.equal(idle.json.repaired, false);

      await killedInSwap(db.env, created.body.id);
      const killedAt = Date.now();
      // Nobody runs anything: the server's periodic recovery must bring the database back.
      const deadline = killedAt + 30_000;
      await waitFor(
        () =>
          query(db.url, 'select 1 as ok').then(
            () => true,
            () => false,
          ),
        { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 100, what: 'the live database to take connections again within 30 s of the kill' },
      );
      await inLog(server, /recovered what a dead operation left: .*reopened the live database/);
      const health = await waitFor(
        async () => {
          const h = await api(server, 'GET', '/health', { token: null });
          return h.status === 200 ? h : undefined;
        },
        { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 100, what: '/health to answer 200' },
      );
      assert.equal(health.status, 200, health.text);
      assert.equal(health.json.database.status, 'ok');
      const search = await api(server, 'GET', `/api/v2/controls/search?q=${encodeURIComponent('privileged access review')}&limit=5`, { token: READER });
      assert.equal(search.status, 200, search.text);
      assert.ok(search.json.results.length > 0, search.text);
      assert.deepEqual(await cluster.databases().then((all) => all.filter((d) => d.startsWith(`${db.name}__nfr_staging`))), []);

      // A reader asking for a snapshot that is not there learns that, not where backups live.
      const missing = await api(server, 'GET', '/api/v2/devdata/snapshots/SNAP-2026-9999', { token: READER });
      assert.equal(missing.status, 404, missing.text);
      assert.match(missing.json.error.message, /^snapshot SNAP-2026-9999 not found/);
      assert.ok(!missing.text.includes(db.env.POSTGRES_BACKUP_PATH!), missing.text);
    } finally {
      await server.stop();
    }
  });
});

/** Waits (bounded) until the server's JSON log on stdout matches. */
async function inLog(server: Server, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  await waitFor(() => pattern.test(server.stdout()), { timeoutMs, what: `${pattern} in the server's log` }).catch((err: Error) => {
    throw new Error(`${err.message}; log: ${server.stdout().slice(-4000)}`);
  });
}

/** Starts a --skip-backup restore, kills it (SIGKILL) once the live database refuses connections. */
async function killedInSwap(env: Env, id: string): Promise<void> {
  const child = spawnNfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'swap-blocked' });
  try {
    await waitForStderr(child, /nfr-fault-point: swap-blocked/, 120_000);
  } finally {
    child.kill('SIGKILL');
    await waitForExit(child);
  }
}

describe('settings', () => {
  const resolve = (env: Record<string, string>) => resolveConfig({ env, cwd: '/tmp' });
  const refused = (env: Record<string, string>) => {
    try {
      resolve(env);
    } catch (err) {
      assert.equal((err as NfrError).code, 'CONFIG');
      return (err as Error).message;
    }
    assert.fail(`accepted ${JSON.stringify(env)}`);
  };

  it('names the variable and the allowed range for a huge integer', () => {
    for (const [name, range] of [['NFR_LOCK_WAIT_SECONDS', 'from 0 to 86400'], ['POSTGRES_BACKUP_PARALLEL_JOBS', 'from 1 to 64'], ['NFR_API_PORT', 'from 0 to 65535']] as const) {
      const message = refused({ [name]: '99999999999999999999999999' });
      assert.match(message, new RegExp(`${name}="99999999999999999999999999": expected an integer ${range}`));
      assert.doesNotMatch(message, /9007199254740991|Too big/);
    }
    assert.equal(resolve({ NFR_LOCK_WAIT_SECONDS: '0086400' }).lockWaitSeconds, 86400, 'leading zeros are still the number');
  });

  it('takes only http(s) URLs for the embeddings endpoint and Qdrant', () => {
    assert.match(refused({ EMBEDDINGS_URL: 'ftp://x' }), /EMBEDDINGS_URL="ftp:\/\/x": expected an http\(s\) URL/);
    assert.match(refused({ QDRANT_URL: 'file:///etc/passwd' }), /QDRANT_URL=.*expected an http\(s\) URL/);
    assert.equal(resolve({ EMBEDDINGS_URL: 'https://api.example.com/v1' }).embeddings?.url, 'https://api.example.com/v1');
  });

  it('reads NFR_VERIFY_INTERVAL as seconds or a number with a unit', () => {
    const seconds = (v: string) => resolve({ NFR_VERIFY_INTERVAL: v }).verifyIntervalSeconds;
    assert.equal(resolve({}).verifyIntervalSeconds, 86400, 'daily by default');
    assert.deepEqual(['24h', '30m', '10s', '7d', '3600', '0'].map(seconds), [86400, 1800, 10, 604800, 3600, 0]);
    for (const bad of ['1w', '-5', '1.5h', 'daily', '400d']) assert.match(refused({ NFR_VERIFY_INTERVAL: bad }), /NFR_VERIFY_INTERVAL=.*expected a duration: seconds/);
  });

  it('refuses EMBEDDINGS_URL=ftp://x when the server starts', async () => {
    const db = await cluster.createDatabase('ftpurl');
    const r = await nfr(['serve', '--port', '0'], { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, NFR_HOME: cluster.tempDir('ftpurl'), EMBEDDINGS_URL: 'ftp://x' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /EMBEDDINGS_URL="ftp:\/\/x": expected an http\(s\) URL/);
  });
});

describe('verification results', () => {
  it('are kept, logged when failed, drive retention and health, survive restores, and servers check in the background', async () => {
    const db = await controlsDb(cluster, 'verifyrec');
    const file = path.join(db.dir, 'controls.csv');
    await writeFile(file, csv(Array.from({ length: 50 }, (_, i) => row(`CTL-${i}`))));
    assert.equal((await nfrJson(['ingest', 'controls', file, '--no-enrich'], db.env)).code, 0);
    const ids: string[] = [];
    for (const name of ['one', 'two', 'three']) {
      const r = await nfrJson(['snapshot', 'create', '--name', name], db.env);
      assert.equal(r.code, 0, r.stderr);
      ids.push(r.body.id);
    }
    const [, second, newest] = ids as [string, string, string];
    // Before: one day, so the policy keeps only the newest.
    assert.deepEqual((await nfrJson(['snapshot', 'prune', '--dry-run'], db.env)).body.kept.map((k: { id: string }) => k.id), [newest]);

    await corruptDat(path.join(db.env.POSTGRES_BACKUP_PATH!, newest));
    const verify = await nfrJson(['snapshot', 'verify', '--id', newest], db.env);
    assert.equal(verify.code, 6, verify.stderr);
    const events = await readEvents(db.env.POSTGRES_BACKUP_PATH!);
    assert.ok(events.some((e) => e.operation === 'verify' && e.status === 'failed' && e.snapshot_id === newest && /\.dat/.test(e.error)), JSON.stringify(events));

    const expectVerdicts = async (when: string) => {
      const prune = await nfrJson(['snapshot', 'prune', '--dry-run'], db.env);
      assert.equal(prune.code, 0, prune.stderr);
      assert.deepEqual(prune.body.kept.map((k: { id: string }) => k.id), [second], `${when}: the newest snapshot that did not fail is kept instead`);
      const corrupt = prune.body.deleted.find((d: { id: string }) => d.id === newest);
      assert.equal(corrupt?.verification_failed, true, `${when}: the dry run shows why`);
      const health = await nfrJson(['snapshot', 'health'], db.env);
      assert.equal(health.code, 8, `${when}: ${JSON.stringify(health.body)}`);
      const check = health.body.checks.find((c: { name: string }) => c.name === 'verification');
      assert.equal(check.status, 'unhealthy');
      assert.match(check.message, new RegExp(`newest snapshot ${newest} failed verification.*did not fail is ${second}`));
    };
    await expectVerdicts('after verify');
    // The records live beside the archives: a restore does not lose them.
    assert.equal((await nfrJson(['snapshot', 'restore', '--id', second, '--yes', '--skip-backup'], db.env)).code, 0);
    await expectVerdicts('after a restore');

    // A newer snapshot nobody verifies rots: a server finds it on its own.
    const fourth = await nfrJson(['snapshot', 'create', '--name', 'four'], db.env);
    assert.equal(fourth.code, 0, fourth.stderr);
    await corruptDat(path.join(db.env.POSTGRES_BACKUP_PATH!, fourth.body.id));
    const server = await serve({ ...db.env, API_TOKENS, NFR_VERIFY_INTERVAL: '1s' });
    try {
      await inLog(server, new RegExp(`snapshot ${fourth.body.id} failed verification: .*\\.dat`));
      const health = await api(server, 'GET', '/api/v2/devdata/snapshots/health', { token: READER });
      assert.equal(health.status, 503, health.text);
      assert.equal(health.json.checks.find((c: { name: string }) => c.name === 'verification').status, 'unhealthy');
      // The background check takes no lock: operations run beside it, without waiting.
      const created = await nfrJson(['snapshot', 'create', '--name', 'beside the checks'], db.env);
      assert.equal(created.code, 0, created.stderr);
    } finally {
      await server.stop();
    }
  });
});

/** Flips one byte in the middle of a table's data file of a snapshot's archive (same size). */
async function corruptDat(snapshotDir: string): Promise<void> {
  const dump = path.join(snapshotDir, 'db');
  const dat = (await readdir(dump)).filter((f) => /^\d+\.dat(\.gz)?$/.test(f)).sort();
  assert.ok(dat.length > 0, `no table data file in ${dump}`);
  const target = path.join(dump, dat[dat.length - 1]!);
  const bytes = await readFile(target);
  assert.ok(bytes.length > 0);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  await writeFile(target, bytes);
}

async function readEvents(backups: string): Promise<{ operation: string; status: string; snapshot_id?: string; error: string }[]> {
  const text = await readFile(path.join(backups, '.state', 'events.jsonl'), 'utf8');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
