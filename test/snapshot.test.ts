/**
 * The snapshot engine end to end, through the CLI, against a real cluster: round trips with
 * full-content checksums, catalog and undo, refusals (bad ids, flipped bytes, schema), sessions
 * connected during a restore, delete/prune/health.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { GrowingFileHasher } from '../src/snapshot/growing-hasher.js';
import { nfr, nfrJson, testEnv } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint, mutate, query, seed } from './support/data.js';
import { seededDatabase } from './support/setup.js';

const cluster = fileCluster();

/** A database with seeded data and its own backup directory. */
const setup = (prefix: string, controls = 500) => seededDatabase(cluster, prefix, { controls });

describe('manifest row counts', () => {
  it('match count(*) of every table, counted in the archive or (compressed) in the database', async () => {
    const { url, env, backups } = await setup('counts', 50);
    // Rows whose values hold what COPY escapes (newlines, tabs, backslashes, a "\." line), an
    // empty table, a name with a space and another schema.
    await query(url, `create table tricky (id int, v text)`);
    await query(url, `insert into tricky select g, case g % 4 when 0 then E'a\\nb' when 1 then E'line\nbreak\ttab' when 2 then E'\\.' else E'\n\\.\n' end from generate_series(1, 1001) g`);
    await query(url, `create table "odd name" (id int)`);
    await query(url, `insert into "odd name" select generate_series(1, 7)`);
    await query(url, `create table empty_one (id int)`);
    await query(url, `create schema other`);
    await query(url, `create table other.tricky (id int)`);
    await query(url, `insert into other.tricky select generate_series(1, 3)`);
    const expected = Object.fromEntries(Object.entries(await fingerprint(url)).map(([table, f]) => [table, f.rows]));
    assert.equal(expected['public.tricky'], 1001);

    for (const compression of ['0', '1']) {
      const created = await nfrJson(['snapshot', 'create', '--name', `counts z${compression}`], { ...env, POSTGRES_BACKUP_COMPRESSION: compression });
      assert.equal(created.code, 0, created.stderr);
      const counted = Object.fromEntries(created.body.tables.map((t: { schema: string; name: string; rows: number }) => [`${t.schema}.${t.name}`, t.rows]));
      assert.deepEqual(counted, expected, `compression ${compression}`);
      assert.equal(created.body.files.some((f: { path: string }) => f.path.endsWith('.dat.gz')), compression === '1');
      if (compression === '0') {
        // The uncompressed counts came from the archive itself: every data file was counted.
        const hasher = new GrowingFileHasher(path.join(backups, created.body.id), 'db', true);
        hasher.start();
        await hasher.settle();
        const rows = [...hasher.rowCounts().values()];
        assert.equal(rows.length, created.body.files.filter((f: { path: string }) => /^db\/\d+\.dat$/.test(f.path)).length);
        assert.ok(rows.every((n) => typeof n === 'number'));
        assert.equal(rows.reduce((a, b) => (a ?? 0) + (b ?? 0), 0), Object.values(expected).reduce((a, b) => a + b, 0));
      }
    }
  });
});

describe('snapshot round trip', () => {
  it('restores exactly the snapshotted data, keeps the catalog, and undoes by rename', async () => {
    const { url, name, env, backups } = await setup('roundtrip');
    const before = await fingerprint(url);
    assert.ok(before['public.src_controls_ver_control']!.rows === 500);

    const created = await nfrJson(['snapshot', 'create', '--name', 'baseline', '--tag', 'pinned', '--description', 'before the bad load'], env);
    assert.equal(created.code, 0, created.stderr);
    const id = created.body.id as string;
    assert.match(id, /^SNAP-\d{4}-\d{4}$/);
    assert.equal(created.body.status, 'completed');
    assert.equal(created.body.database.schema_version, '0004_history-time-indexes');
    assert.equal(created.body.database.pipeline_stage, 'clean');
    assert.equal(created.body.schema_version, '0004_history-time-indexes', 'also at the top of the manifest');
    assert.equal(created.body.pipeline_stage, 'clean');
    const controls = created.body.tables.find((t: { name: string }) => t.name === 'src_controls_ver_control');
    assert.equal(controls.rows, 500);
    // Snapshot files are owner-only, and the manifest lists each with its checksum.
    const dir = path.join(backups, id);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    for (const f of created.body.files) assert.equal((await stat(path.join(dir, f.path))).mode & 0o777, 0o600);
    assert.ok(created.body.files.some((f: { path: string }) => f.path === 'db/toc.dat'));

    await mutate(url);
    const mutated = await fingerprint(url);
    assert.notDeepEqual(mutated, before);

    const second = await nfrJson(['snapshot', 'create', '--name', 'after the bad load'], env);
    assert.equal(second.code, 0, second.stderr);

    const restored = await nfrJson(['snapshot', 'restore', '--id', id, '--yes'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.body.snapshot_id, id);
    assert.equal(restored.body.database, name);
    assert.match(restored.body.pre_restore_backup_id, /^SNAP-/);
    assert.ok(restored.body.blocked_ms < 1000, `blocked ${restored.body.blocked_ms} ms`);
    assert.deepEqual(await fingerprint(url), before, 'every table holds exactly the snapshotted rows');

    // The catalog lives outside the database: newer snapshots are still listed after the restore.
    const list = await nfrJson(['snapshot', 'list'], env);
    const ids = list.body.snapshots.map((s: { id: string }) => s.id);
    assert.deepEqual(ids, [id, second.body.id, restored.body.pre_restore_backup_id]);
    const backup = list.body.snapshots.find((s: { id: string }) => s.id === restored.body.pre_restore_backup_id);
    assert.deepEqual(backup.tags, ['pre-restore']);

    // Undo swaps the replaced database back; undo again redoes the restore.
    const undo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.equal(undo.code, 0, undo.stderr);
    assert.equal(undo.body.undone, true);
    assert.ok(undo.body.blocked_ms < 1000);
    assert.deepEqual(await fingerprint(url), mutated);
    const redo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.equal(redo.body.undone, false);
    assert.deepEqual(await fingerprint(url), before);

    // The pre-restore backup holds the mutated state.
    const back = await nfrJson(['snapshot', 'restore', '--id', restored.body.pre_restore_backup_id, '--yes', '--skip-backup'], env);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.body.pre_restore_backup_id, null);
    assert.deepEqual(await fingerprint(url), mutated);
    assert.equal((await nfrJson(['snapshot', 'status'], env)).body.last_restore.undo_command, 'nfr snapshot restore --undo');

    // A restore that fails after it dropped the database undo would bring back: the live database
    // is untouched, and status no longer offers an undo that cannot work.
    const failed = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'restored:fail' });
    assert.equal(failed.code, 1, failed.stderr);
    assert.deepEqual(await fingerprint(url), mutated);
    const after = await nfrJson(['snapshot', 'status'], env);
    assert.equal(after.body.last_restore.undo_command, null);
    assert.equal(after.body.last_restore.previous_dropped, true);
    assert.equal((await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env)).code, 4);

    const show = await nfrJson(['snapshot', 'show', '--id', id], env);
    assert.equal(show.body.name, 'baseline');
    assert.equal(show.body.description, 'before the bad load');
    assert.equal(show.body.schema_version, '0004_history-time-indexes');
    // A manifest written before the top-level fields existed gets them when read.
    const file = path.join(backups, id, 'manifest.json');
    const written = JSON.parse(await readFile(file, 'utf8'));
    delete written.schema_version;
    delete written.pipeline_stage;
    await writeFile(file, JSON.stringify(written));
    const older = await nfrJson(['snapshot', 'show', '--id', id], env);
    assert.equal(older.body.schema_version, '0004_history-time-indexes');
    assert.equal(older.body.pipeline_stage, 'clean');
    const text = await nfr(['snapshot', 'show', '--id', id], env);
    assert.match(text.stdout, /src_controls_ver_control\s+500/);

    // No staging or verify databases are left behind (the control database `<name>_nfr` holds
    // the audit trail of these commands).
    assert.deepEqual((await cluster.databases()).filter((d) => d.startsWith(name) && d !== name && d !== `${name}_nfr` && !d.endsWith('__nfr_prev')), []);
  });

  it('ends sessions connected to the live database with a clean error instead of hanging', async () => {
    const { url, env } = await setup('sessions');
    const created = await nfrJson(['snapshot', 'create', '--name', 'base'], env);
    assert.equal(created.code, 0, created.stderr);

    const idle = new pg.Client({ connectionString: url });
    const inTx = new pg.Client({ connectionString: url });
    const busy = new pg.Client({ connectionString: url });
    const errors: Error[] = [];
    for (const c of [idle, inTx, busy]) {
      c.on('error', (e) => errors.push(e));
      await c.connect();
    }
    await inTx.query('begin');
    await inTx.query('lock table src_controls_ver_control in access exclusive mode');
    const sleeping = busy.query('select pg_sleep(60)').then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );

    const started = Date.now();
    const restored = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.ok(Date.now() - started < 30_000);
    assert.ok(restored.body.sessions_ended >= 3, `ended ${restored.body.sessions_ended}`);

    const sleepErr = await sleeping;
    assert.ok(sleepErr instanceof Error, 'the running query failed');
    assert.equal((sleepErr as Error & { code?: string }).code, '57P01', `got ${(sleepErr as Error).message}`);
    await assert.rejects(inTx.query('select 1'));
    await assert.rejects(idle.query('select 1'));
    for (const c of [idle, inTx, busy]) await c.end().catch(() => {});

    // New connections reach the restored database.
    const rows = await query<{ n: string }>(url, 'select count(*)::text as n from src_controls_ver_control');
    assert.equal(rows[0]?.n, '500');
  });
});

describe('refusals', () => {
  it('rejects bad ids before touching the disk or the database', async () => {
    const missing = path.join(cluster.root, 'never-created');
    const env = testEnv({ DATABASE_URL: 'postgresql://nobody:x@127.0.0.1:1/none', POSTGRES_BACKUP_PATH: missing, NFR_HOME: missing });
    for (const bad of ['../x', 'SNAP-1', 'SNAP-2026-1', '../../etc/passwd', 'SNAP-2026-0001/../x', '']) {
      for (const args of [['show', '--id', bad], ['verify', '--id', bad], ['delete', '--id', bad, '--yes'], ['restore', '--id', bad, '--yes']]) {
        const r = await nfrJson(['snapshot', ...args], env);
        assert.equal(r.code, 12, `${args.join(' ')}: exit ${r.code} ${r.stderr}`);
        assert.equal(r.body.error.code, 'INVALID_INPUT');
        assert.match(r.body.error.message, /invalid snapshot id/);
      }
    }
    await assert.rejects(stat(missing), 'no directory was created');
  });

  it('reports unknown snapshots as not found', async () => {
    const { env } = await setup('notfound', 10);
    const r = await nfrJson(['snapshot', 'show', '--id', 'SNAP-2026-9999'], env);
    assert.equal(r.code, 4);
    assert.equal(r.body.error.code, 'NOT_FOUND');
    const restore = await nfrJson(['snapshot', 'restore', '--id', 'SNAP-2026-9999', '--yes'], env);
    assert.equal(restore.code, 4);
  });

  it('refuses a snapshot with one flipped byte, in verify and before restore touches anything', async () => {
    const { url, name, env, backups } = await setup('flipped');
    const created = await nfrJson(['snapshot', 'create', '--name', 'good'], env);
    const id = created.body.id as string;
    assert.equal((await nfrJson(['snapshot', 'verify', '--id', id], env)).code, 0);

    const biggest = [...created.body.files].sort((a: { size: number }, b: { size: number }) => b.size - a.size)[0];
    const file = path.join(backups, id, biggest.path);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(file, bytes);

    const verify = await nfrJson(['snapshot', 'verify', '--id', id], env);
    assert.equal(verify.code, 6);
    assert.equal(verify.body.ok, false);
    assert.match(verify.body.problems.join('\n'), new RegExp(`${biggest.path}: SHA-256`));

    await mutate(url);
    const beforeRestore = await fingerprint(url);
    const snapshotsBefore = (await readdir(backups)).filter((d) => d.startsWith('SNAP-')).length;
    const restore = await nfrJson(['snapshot', 'restore', '--id', id, '--yes'], env);
    assert.equal(restore.code, 6, restore.stderr);
    assert.equal(restore.body.error.code, 'VERIFY_FAILED');
    assert.deepEqual(await fingerprint(url), beforeRestore, 'live database untouched');
    assert.equal((await readdir(backups)).filter((d) => d.startsWith('SNAP-')).length, snapshotsBefore, 'no pre-restore backup taken');
    assert.ok(!(await cluster.databases()).some((d) => d.startsWith(`${name}__nfr`)), 'no staging database created');
  });

  it('refuses a schema-version mismatch without --force and migrates to head with it', async () => {
    const db = await cluster.createDatabase('schema');
    const backups = cluster.tempDir('schema-backups');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: backups, NFR_HOME: cluster.tempDir('schema-home') });
    // A database from before the first migration.
    await query(db.url, 'create table legacy_notes (id int primary key, body text)');
    await query(db.url, "insert into legacy_notes select g, 'note ' || g from generate_series(1, 42) g");
    const old = await nfrJson(['snapshot', 'create', '--name', 'pre-schema'], env);
    assert.equal(old.code, 0, old.stderr);
    assert.equal(old.body.database.schema_version, null);
    await seed(db.url, { controls: 5 });

    const refused = await nfrJson(['snapshot', 'restore', '--id', old.body.id, '--yes'], env);
    assert.equal(refused.code, 5);
    assert.equal(refused.body.error.code, 'SCHEMA_MISMATCH');
    assert.match(refused.body.error.message, /--force/);
    assert.equal((await query(db.url, 'select count(*)::int as n from src_controls_ver_control'))[0].n, 5, 'live untouched');

    const forced = await nfrJson(['snapshot', 'restore', '--id', old.body.id, '--yes', '--force', '--skip-backup'], env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(forced.body.schema.migrated, ['0001_initial-schema', '0002_drop-record-hash', '0003_uploads-in-control-database', '0004_history-time-indexes']);
    assert.equal((await query(db.url, 'select count(*)::int as n from legacy_notes'))[0].n, 42);
    assert.equal((await query(db.url, 'select count(*)::int as n from src_controls_ver_control'))[0].n, 0);
    const status = await nfrJson(['db', 'status'], env);
    assert.equal(status.body.schema_version, '0004_history-time-indexes');

    // A snapshot from a newer schema than this code knows is refused even with --force.
    await query(db.url, "insert into nfr_migrations (name, run_on) values ('9999_from-the-future', now())");
    const future = await nfrJson(['snapshot', 'create', '--name', 'future'], env);
    assert.equal(future.body.database.schema_version, '9999_from-the-future');
    const newer = await nfrJson(['snapshot', 'restore', '--id', future.body.id, '--yes', '--force'], env);
    assert.equal(newer.code, 5);
    assert.match(newer.body.error.message, /does not know/);
  });

  it('restores a snapshot of the previous schema (0001) with --force, migrated to head with its controls intact', async () => {
    const db = await cluster.createDatabase('schema0001');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('schema0001-backups'), NFR_HOME: cluster.tempDir('schema0001-home') });
    // A database nfr 0.1 left: migrated to 0001 only, controls carrying the record_hash column.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { runner } = await import('node-pg-migrate');
      const { MIGRATIONS_DIR, MIGRATIONS_TABLE } = await import('../src/postgres/migrate.js');
      await runner({ dbClient: client, dir: MIGRATIONS_DIR, direction: 'up', count: 1, migrationsTable: MIGRATIONS_TABLE, log: () => {} });
      await client.query("insert into src_controls_ref_control (control_id) select 'OLD-' || g from generate_series(1, 30) g");
      await client.query("insert into src_controls_ver_control (control_id, title, status, text_hash, record_hash) select 'OLD-' || g, 'Old control ' || g, 'active', md5(g::text), md5('r' || g) from generate_series(1, 30) g");
    } finally {
      await client.end();
    }
    const old = await nfrJson(['snapshot', 'create', '--name', 'schema-0001'], env);
    assert.equal(old.code, 0, old.stderr);
    assert.equal(old.body.database.schema_version, '0001_initial-schema');
    await query(db.url, "update src_controls_ver_control set title = 'changed after the snapshot'");

    const plan = await nfrJson(['snapshot', 'restore', '--id', old.body.id, '--yes'], env);
    assert.equal(plan.code, 5, 'an older schema needs --force');
    const forced = await nfrJson(['snapshot', 'restore', '--id', old.body.id, '--yes', '--force', '--skip-backup'], env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(forced.body.schema.migrated, ['0002_drop-record-hash', '0003_uploads-in-control-database', '0004_history-time-indexes']);
    const rows = await query(db.url, "select count(*)::int as n, count(*) filter (where title like 'Old control %')::int as old from src_controls_ver_control");
    assert.deepEqual(rows[0], { n: 30, old: 30 });
    const column = await query(db.url, "select count(*)::int as n from information_schema.columns where table_name = 'src_controls_ver_control' and column_name = 'record_hash'");
    assert.equal(column[0].n, 0, 'the migrated copy has no record_hash');
    assert.equal((await nfrJson(['db', 'status'], env)).body.schema_version, '0004_history-time-indexes');
  });

  it('validates names, tags and flags with usage errors', async () => {
    const { env } = await setup('usage', 5);
    assert.equal((await nfr(['snapshot', 'create'], env)).code, 2, 'missing --name');
    assert.equal((await nfrJson(['snapshot', 'create', '--name', 'x', '--tag', 'bad tag!'], env)).code, 12);
    assert.equal((await nfr(['snapshot', 'create', '--name', 'x', '--jobs', '0'], env)).code, 2);
    assert.equal((await nfr(['snapshot', 'restore', '--yes'], env)).code, 2);
    assert.equal((await nfr(['snapshot', 'frobnicate'], env)).code, 2);
    // Usage errors are JSON too with --json.
    const missing = await nfrJson(['snapshot', 'create'], env);
    assert.equal(missing.code, 2);
    assert.deepEqual(missing.body.error, { code: 'USAGE', message: "required option '--name <name>' not specified" });
    assert.equal((await nfrJson(['snapshot', 'show', '--id', 'SNAP-2026-0001', '--bogus'], env)).body.error.code, 'USAGE');
    // --yes (and --skip-confirm) are accepted by every command, not only those that ask.
    const created = await nfrJson(['snapshot', 'create', '--name', 'scripted', '--yes'], env);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await nfrJson(['snapshot', 'verify', '--id', created.body.id, '--skip-confirm'], env)).code, 0);
    assert.equal((await nfrJson(['db', 'status', '-y'], env)).code, 0);
    const badEnv = await nfrJson(['snapshot', 'list'], { ...env, POSTGRES_BACKUP_PARALLEL_JOBS: 'lots' });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.body.error.message, /POSTGRES_BACKUP_PARALLEL_JOBS="lots": expected an integer/);
  });
});

describe('catalog maintenance', () => {
  it('deletes, never reuses ids, prunes by policy and reports health', async () => {
    const { env, backups } = await setup('maint', 20);
    const a = await nfrJson(['snapshot', 'create', '--name', 'a'], env);
    const b = await nfrJson(['snapshot', 'create', '--name', 'b', '--tag', 'pinned'], env);
    const del = await nfrJson(['snapshot', 'delete', '--id', b.body.id, '--yes'], env);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.body.id, b.body.id);
    await assert.rejects(stat(path.join(backups, b.body.id)));
    const c = await nfrJson(['snapshot', 'create', '--name', 'c'], env);
    const n = (id: string) => Number(id.split('-')[2]);
    assert.equal(n(c.body.id), n(b.body.id) + 1, 'the deleted id is not reused');

    // Same day: the daily bucket keeps only the newest; pinned is kept forever.
    const d = await nfrJson(['snapshot', 'create', '--name', 'd', '--tag', 'pinned'], env);
    const dry = await nfrJson(['snapshot', 'prune', '--dry-run'], env);
    assert.equal(dry.body.dry_run, true);
    assert.deepEqual(dry.body.deleted.map((x: { id: string }) => x.id).sort(), [a.body.id, c.body.id].sort());
    assert.ok(await stat(path.join(backups, a.body.id)), 'dry run deletes nothing');
    const pruned = await nfrJson(['snapshot', 'prune', '--yes'], env);
    assert.equal(pruned.code, 0, pruned.stderr);
    const left = (await nfrJson(['snapshot', 'list'], env)).body.snapshots.map((s: { id: string }) => s.id);
    assert.deepEqual(left, [d.body.id]);

    const health = await nfrJson(['snapshot', 'health'], env);
    assert.equal(health.code, 0);
    assert.equal(health.body.checks.find((x: { name: string }) => x.name === 'latest_snapshot').status, 'healthy');
    assert.ok(health.body.checks.find((x: { name: string }) => x.name === 'disk').value.free_bytes > 0);

    // Past the age threshold the latest snapshot makes health fail with a non-zero exit.
    const manifestFile = path.join(backups, d.body.id, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    manifest.completed_at = new Date(Date.now() - 48 * 3600_000).toISOString();
    await writeFile(manifestFile, JSON.stringify(manifest));
    const stale = await nfrJson(['snapshot', 'health'], env);
    assert.equal(stale.code, 8);
    assert.equal(stale.body.status, 'unhealthy');
  });
});
