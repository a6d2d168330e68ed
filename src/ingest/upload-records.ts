/**
 * Where the record of uploads lives: the control database (`<live>_nfr`, beside the jobs, see
 * jobs/control-db.ts), which a restore never replaces. An upload accepted while a restore runs
 * keeps its record and is ingested into whatever database is live when its job gets the
 * operation lock; a run rolled back by `pipeline run --rollback-on-failure` keeps the record of
 * the batch that failed; and recovery fails the batch of a process that died, instead of leaving
 * it `running`.
 *
 *   withUploadRecords   a session on the control database (created and migrated on first use)
 *   adoptLegacyUploads  copies the history the live database kept before uploads moved
 *   failDeadUploads     recovery: `running` batches whose process is gone become `failed`
 */
import { hostname } from 'node:os';
import type pg from 'pg';
import { messageOf, NfrError } from '../errors.js';
import { controlDatabaseName, controlDatabaseOpened, openControlDatabaseOnce } from '../jobs/control-db.js';
import { connect, escapeIdentifier, withClient, withDatabase, type PgTarget } from '../postgres/connection.js';
import { databaseExists } from '../postgres/databases.js';
import type { Context } from '../runtime/context.js';
import { processAlive } from '../util/process.js';

export type UploadRecordsContext = Pick<Context, 'config' | 'target' | 'maintenance'>;

/** The control database's target; created and migrated once per process. */
export function uploadRecordsTarget(ctx: UploadRecordsContext): Promise<PgTarget> {
  return openControlDatabaseOnce(ctx);
}

/** Runs `fn` with an autocommit session on the control database, where uploads are recorded. */
export async function withUploadRecords<T>(ctx: UploadRecordsContext, fn: (control: pg.Client) => Promise<T>): Promise<T> {
  let control: pg.Client;
  try {
    control = await connect(await uploadRecordsTarget(ctx), 'nfr uploads');
  } catch (err) {
    throw new NfrError(
      'DATABASE',
      `the control database "${controlDatabaseName(ctx)}", where uploads are recorded, does not answer (${messageOf(err)}); no upload can be recorded or run until it does, and nothing was stored`,
      { cause: err },
    );
  }
  try {
    return await fn(control);
  } finally {
    await control.end().catch(() => {});
  }
}

/**
 * Copies the upload history the live database kept before uploads moved (its nfr_upload, left
 * read-only by app migration 0003), or that a restored older snapshot brings back, into the
 * control database. A batch already recorded there keeps its record. Returns how many were new.
 */
export async function adoptLegacyUploads(live: pg.ClientBase, control: pg.ClientBase): Promise<number> {
  const exists = await live.query<{ ok: boolean }>("select to_regclass('nfr_upload') is not null as ok");
  if (exists.rows[0]?.ok !== true) return 0;
  const rows = await live.query<{ rows: unknown }>('select coalesce(json_agg(u), $$[]$$::json) as rows from nfr_upload u');
  const r = await control.query(
    `insert into nfr_upload (upload_id, kind, original_filename, stored_path, size_bytes, sha256, status, rows_inserted, rows_updated,
                             rows_unchanged, rows_closed, rows_rejected, errors, created_at, started_at, finished_at)
     select upload_id, kind, original_filename, stored_path, size_bytes, sha256, status, rows_inserted, rows_updated,
            rows_unchanged, rows_closed, rows_rejected, errors, created_at, started_at, finished_at
       from json_populate_recordset(null::nfr_upload, $1::json)
     on conflict (upload_id) do nothing`,
    [JSON.stringify(rows.rows[0]?.rows ?? [])],
  );
  return r.rowCount ?? 0;
}

const INTERRUPTED = 'interrupted: the ingesting process ended before it finished; nothing of it was written';
const COMMITTED = 'recovered: the batch was committed, but its process ended before it recorded its counts';

/**
 * Recovery of upload records: a batch left `running` by a process that is gone is marked
 * `failed`, at once. With `holdingLock` (the caller holds the operation lock, which every
 * ingestion holds while it runs) every `running` batch is such a batch; without it only those
 * of a dead process on this host are known to be. `pending` batches are queued jobs waiting for
 * the lock and are left alone. Returns the ids it failed.
 *
 * The record and the data live in two databases, so they cannot commit together: a process can
 * die after its batch committed and before its record says so. With `live`, a batch whose rows
 * carry its upload id in the live database is marked `completed` instead (one transaction wrote
 * them all, so any row means all of them), and is not among the ids returned.
 *
 * Ingestion calls this under the lock before it starts; recovery (pipeline/recover.ts) calls
 * recoverUploads.
 */
export async function failDeadUploads(control: pg.ClientBase, options: { readonly holdingLock: boolean; readonly live?: pg.ClientBase }): Promise<string[]> {
  let ids: string[];
  if (options.holdingLock) {
    const r = await control.query<{ upload_id: string }>(`select upload_id from nfr_upload where status = 'running'`);
    ids = r.rows.map((row) => row.upload_id);
  } else {
    const r = await control.query<{ upload_id: string; pid: number | null }>(`select upload_id, pid from nfr_upload where status = 'running' and host = $1`, [hostname()]);
    ids = r.rows.filter((row) => row.pid !== null && !processAlive(row.pid)).map((row) => row.upload_id);
  }
  if (ids.length === 0) return [];
  const committed = options.live === undefined ? new Set<string>() : await committedUploads(options.live, ids);
  await control.query(
    `update nfr_upload u
        set status = case when u.upload_id = any ($2::text[]) then 'completed' else 'failed' end,
            finished_at = clock_timestamp(),
            errors = jsonb_build_array(jsonb_build_object('line', null, 'field', null,
                       'message', case when u.upload_id = any ($2::text[]) then $4::text else $3::text end))
      where u.upload_id = any ($1::text[]) and u.status = 'running'`,
    [ids, [...committed], INTERRUPTED, COMMITTED],
  );
  return ids.filter((id) => !committed.has(id));
}

/** Which of `ids` have rows in the live database: in any table with an `upload_id` column but the old record. */
async function committedUploads(live: pg.ClientBase, ids: readonly string[]): Promise<Set<string>> {
  const tables = await live.query<{ schema: string; name: string }>(
    `select c.table_schema as schema, c.table_name as name
       from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
      where c.column_name = 'upload_id' and t.table_type = 'BASE TABLE' and c.table_name <> 'nfr_upload'
        and c.table_schema not in ('pg_catalog', 'information_schema')`,
  );
  const found = new Set<string>();
  for (const t of tables.rows) {
    const r = await live.query<{ upload_id: string }>(
      `select distinct upload_id::text as upload_id from ${escapeIdentifier(t.schema)}.${escapeIdentifier(t.name)} where upload_id::text = any ($1::text[])`,
      [ids],
    );
    for (const row of r.rows) found.add(row.upload_id);
  }
  return found;
}

/**
 * failDeadUploads on its own sessions: the recovery step (pipeline/recover.ts) that runs at every
 * operation's start, periodically in servers and as `nfr snapshot recover`. A control database
 * that was never created records no upload, and is not created for the asking.
 */
export async function recoverUploads(ctx: UploadRecordsContext, options: { readonly holdingLock: boolean }): Promise<string[]> {
  if (!(await controlDatabaseExists(ctx))) return [];
  return withUploadRecords(ctx, async (control) => {
    // Nothing running, as almost always: no session on the live database is needed.
    if (!(await control.query(`select 1 from nfr_upload where status = 'running' limit 1`)).rowCount) return [];
    const live = await connect(ctx.target, 'nfr recover uploads').catch(() => undefined);
    try {
      // Without a live database to ask (dropped, not created yet) nothing of a batch is in it.
      return await failDeadUploads(control, live === undefined ? options : { ...options, live });
    } finally {
      await live?.end().catch(() => {});
    }
  });
}

/**
 * The uploads a dead process on this host left `running`, for recovery's read-only check (run
 * without the lock, so only a process known to be gone counts; under the lock every `running`
 * batch does, see failDeadUploads). Reads only: never creates or migrates the control database.
 */
export async function deadUploads(ctx: UploadRecordsContext): Promise<string[]> {
  if (!(await controlDatabaseExists(ctx))) return [];
  return withClient(
    withDatabase(ctx.target, controlDatabaseName(ctx)),
    async (control) => {
      const exists = await control.query<{ ok: boolean }>("select to_regclass('nfr_upload') is not null as ok");
      if (exists.rows[0]?.ok !== true) return [];
      const r = await control.query<{ upload_id: string; pid: number | null }>(`select upload_id, pid from nfr_upload where status = 'running' and host = $1`, [hostname()]);
      return r.rows.filter((row) => row.pid !== null && !processAlive(row.pid)).map((row) => row.upload_id);
    },
    'nfr recover check',
  );
}

async function controlDatabaseExists(ctx: UploadRecordsContext): Promise<boolean> {
  // Opened (so created) by this process already (the audit trail of a command opens it first):
  // no session needed to know it exists.
  if (await controlDatabaseOpened(ctx)) return true;
  return withClient(ctx.maintenance, (maint) => databaseExists(maint, controlDatabaseName(ctx)), 'nfr uploads');
}

/** Whether `uploadId` is recorded (enrichment's outputs must belong to a recorded upload). */
export async function uploadRecorded(control: pg.ClientBase, uploadId: string): Promise<boolean> {
  const r = await control.query('select 1 from nfr_upload where upload_id = $1', [uploadId]);
  return (r.rowCount ?? 0) > 0;
}

/** Whether the live database's pre-move upload history (nfr_upload, app migration 0003) holds `uploadId`. */
export async function legacyUploadRecorded(live: pg.ClientBase, uploadId: string): Promise<boolean> {
  const exists = await live.query<{ ok: boolean }>("select to_regclass('nfr_upload') is not null as ok");
  if (exists.rows[0]?.ok !== true) return false;
  return ((await live.query('select 1 from nfr_upload where upload_id = $1', [uploadId])).rowCount ?? 0) > 0;
}

/**
 * Ids of the uploads recorded before `time` (ISO): the ones a snapshot taken then could know.
 * A control database that was never created records none (and is not created for the asking).
 */
export async function uploadsRecordedBefore(ctx: UploadRecordsContext, time: string): Promise<Set<string>> {
  if (!(await controlDatabaseExists(ctx))) return new Set();
  return withUploadRecords(ctx, async (control) => {
    const r = await control.query<{ upload_id: string }>('select upload_id from nfr_upload where created_at <= $1::timestamptz', [time]);
    return new Set(r.rows.map((row) => row.upload_id));
  });
}
