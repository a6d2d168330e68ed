/**
 * Upload batches: ids (`UPL-YYYY-NNNN`), the stored copy of the uploaded file under
 * `DATA_INGESTED_PATH/<kind>/<UPLOAD-ID>.csv`, and the `nfr_upload` row that records the batch.
 *
 * The record lives in the control database (upload-records.ts opens it), beside the jobs, where
 * restores cannot replace it: an upload accepted while a restore runs, or whose run is rolled
 * back, keeps its record, and its history survives every restore. Ids come from the control
 * database's `nfr_upload_sequence`, above every recorded upload, every file already on disk and
 * (best effort) the history the live database kept before uploads moved; the file is created
 * with O_EXCL, so a stored upload is never overwritten and an id never reused.
 *
 * Every function here takes a session on the control database, in autocommit: a failed or
 * rejected batch keeps its record (status, errors) after the data transaction rolls back.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { hostname } from 'node:os';
import { diskFull, NfrError } from '../errors.js';
import { ensureDir } from '../util/fs.js';
import type { z } from 'zod';
import type { uploadListSchema, uploadRecordSchema } from './shapes.js';

export type UploadId = string & { readonly __brand: 'UploadId' };
export type UploadKind = UploadRecord['kind'];
export type UploadStatus = UploadRecord['status'];

/**
 * `UPL-YYYY-NNNN`: a year and a number of four to nine digits (more than four once a year has
 * 10,000 uploads). The only definition: as an id, as a stored file's name, and inside the name of
 * a file derived from an upload (model runs: `UPL-2026-0003.taxonomy.jsonl`).
 */
const UPLOAD_ID = /^UPL-(\d{4})-(\d{4,9})$/;
const STORED_FILE = /^UPL-(\d{4})-(\d{4,9})\.[A-Za-z0-9]+$/;
const UPLOAD_ID_IN_NAME = /(?<![A-Za-z0-9])(UPL-\d{4}-\d{4,9})(?!\d)/;

/** Error details kept in nfr_upload.errors; the total is in rows_rejected. */
export const MAX_STORED_ERRORS = 100;

export function isUploadId(s: string): s is UploadId {
  return UPLOAD_ID.test(s);
}

/** The upload id a file name carries (`UPL-2026-0003.csv`, `UPL-2026-0003.taxonomy.jsonl`), if any. */
export function uploadIdInName(name: string): UploadId | undefined {
  return UPLOAD_ID_IN_NAME.exec(name)?.[1] as UploadId | undefined;
}

export function formatUploadId(year: number, n: number): UploadId {
  return `UPL-${year}-${String(n).padStart(4, '0')}` as UploadId;
}

/** Highest upload number of `year` among the files of `dir` (0 if none, or no directory). */
export async function highestStoredNumber(dir: string, year: number): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let max = 0;
  for (const name of names) {
    const m = STORED_FILE.exec(name);
    if (m && Number(m[1]) === year) max = Math.max(max, Number(m[2]));
  }
  return max;
}

/**
 * Hands out the next upload number of `year`: above the sequence, above every recorded upload,
 * above every file already stored in `dir`, and above `legacyFloor` (the history of the live
 * database, see legacyUploadFloor). Runs in autocommit so the number is never reused.
 */
export async function nextUploadId(control: pg.ClientBase, dir: string, year: number, legacyFloor = 0): Promise<UploadId> {
  const onDisk = await highestStoredNumber(dir, year);
  const r = await control.query<{ n: number }>(
    `with floor as (
       select greatest($2::int, $3::int,
                       coalesce((select max(substring(upload_id from '^UPL-[0-9]{4}-([0-9]+)$')::int)
                                   from nfr_upload where upload_id like 'UPL-' || $1::text || '-%'), 0)) as n)
     insert into nfr_upload_sequence as s (year, last_value)
     select $1::int, floor.n + 1 from floor
     on conflict (year) do update set last_value = greatest(s.last_value, (select n from floor)) + 1
     returning last_value as n`,
    [year, onDisk, legacyFloor],
  );
  const n = r.rows[0]?.n;
  if (n === undefined) throw new NfrError('INTERNAL', 'nfr_upload_sequence returned no upload number');
  return formatUploadId(year, n);
}

/**
 * The highest upload number of `year` the live database knew before uploads moved to the control
 * database (its nfr_upload and nfr_id_sequence, kept read-only by migration 0003), 0 if none.
 * Context runs stored no file, so the disk alone would not cover their ids.
 */
export async function legacyUploadFloor(live: pg.ClientBase, year: number): Promise<number> {
  const r = await live.query<{ n: number }>(
    `select greatest(
       case when to_regclass('nfr_upload') is null then 0 else
         (select coalesce(max(substring(upload_id from '^UPL-[0-9]{4}-([0-9]+)$')::int), 0) from nfr_upload where upload_id like 'UPL-' || $1::text || '-%') end,
       case when to_regclass('nfr_id_sequence') is null then 0 else
         (select coalesce(max(last_value), 0)::int from nfr_id_sequence where prefix = 'UPL' and year = $1::int) end) as n`,
    [year],
  );
  return r.rows[0]?.n ?? 0;
}

export interface StoredUpload {
  readonly uploadId: UploadId;
  /** Absolute path of the stored copy. */
  readonly storedPath: string;
  /** Path relative to DATA_INGESTED_PATH, as recorded (relocatable with the folder). */
  readonly relativePath: string;
  readonly sizeBytes: number;
  readonly sha256: string;
}

/**
 * Copies `source` (streamed, hashed on the way) to `<dataIngestedPath>/<kind>/<UPLOAD-ID>.<ext>`
 * with mode 0600 in 0700 directories, allocating the id. The file is created exclusively: if a
 * file with the allocated id appears meanwhile, the next id is taken. A failed copy leaves nothing.
 */
export async function storeUpload(control: pg.ClientBase, dataIngestedPath: string, kind: UploadKind, source: string, options: { readonly ext?: string; readonly legacyFloor?: number } = {}): Promise<StoredUpload> {
  const ext = options.ext ?? 'csv';
  const dir = path.join(dataIngestedPath, kind);
  await ensureDir(dataIngestedPath);
  await ensureDir(dir);
  const year = new Date().getUTCFullYear();
  for (let attempt = 0; ; attempt++) {
    const uploadId = await nextUploadId(control, dir, year, options.legacyFloor);
    const storedPath = path.join(dir, `${uploadId}.${ext}`);
    let handle;
    try {
      handle = await open(storedPath, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 100) continue;
      throw err;
    }
    const hash = createHash('sha256');
    let size = 0;
    try {
      const tap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      // flush: fsync before close; the database will point at this file, so it must be durable first.
      // The stream closes the handle when it finishes (or fails).
      await pipeline(createReadStream(source, { highWaterMark: 1 << 20 }), tap, handle.createWriteStream({ flush: true }));
    } catch (err) {
      await handle.close().catch(() => {});
      await rm(storedPath, { force: true });
      throw diskFull(err, storedPath) ?? err;
    }
    return { uploadId, storedPath, relativePath: `${kind}/${path.basename(storedPath)}`, sizeBytes: size, sha256: hash.digest('hex') };
  }
}

/** Checks that `file` is a readable regular file no larger than `maxBytes`; returns its size. */
export async function checkUploadFile(file: string, maxBytes: number): Promise<number> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NfrError('NOT_FOUND', `${file}: no such file`);
    throw new NfrError('INVALID_INPUT', `${file}: cannot read it: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) throw new NfrError('INVALID_INPUT', `${file}: not a regular file`);
  if (st.size > maxBytes) {
    throw new NfrError('INVALID_INPUT', `${file}: ${st.size} bytes is more than the upload limit of ${maxBytes} bytes (NFR_MAX_UPLOAD_MB)`);
  }
  return st.size;
}

/** Records a stored upload as `pending`. */
export async function recordUpload(client: pg.ClientBase, kind: UploadKind, originalFilename: string, stored: StoredUpload): Promise<void> {
  await client.query(
    `insert into nfr_upload (upload_id, kind, original_filename, stored_path, size_bytes, sha256, status)
     values ($1, $2, $3, $4, $5, $6, 'pending')`,
    [stored.uploadId, kind, originalFilename, stored.relativePath, stored.sizeBytes, stored.sha256],
  );
}

/** Marks the upload running in `database` by this process (recovery fails it if the process dies). */
export async function markUploadRunning(control: pg.ClientBase, uploadId: UploadId, database: string): Promise<void> {
  await control.query(
    `update nfr_upload set status = 'running', started_at = clock_timestamp(), finished_at = null, database = $2, host = $3, pid = $4 where upload_id = $1`,
    [uploadId, database, hostname(), process.pid],
  );
}

export interface UploadCounts {
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly closed: number;
  readonly rejected: number;
}

/**
 * Marks the upload completed with its counts, right after the data transaction committed (the
 * record is in another database, so the two cannot commit together; recovery says so of a batch
 * whose process died in between). clock_timestamp(), not now(): now() is the transaction's start.
 */
export async function markUploadCompleted(control: pg.ClientBase, uploadId: UploadId, counts: UploadCounts, errors: readonly unknown[]): Promise<void> {
  await control.query(
    `update nfr_upload
        set status = 'completed', finished_at = clock_timestamp(), rows_inserted = $2, rows_updated = $3, rows_unchanged = $4,
            rows_closed = $5, rows_rejected = $6, errors = $7::jsonb
      where upload_id = $1`,
    [uploadId, counts.inserted, counts.updated, counts.unchanged, counts.closed, counts.rejected, JSON.stringify(errors.slice(0, MAX_STORED_ERRORS))],
  );
}

/** Records a context ingestion run of the folder `root` as `pending`. */
export async function recordContextRun(control: pg.ClientBase, uploadId: UploadId, root: string): Promise<void> {
  await control.query(`insert into nfr_upload (upload_id, kind, stored_path, status) values ($1, 'context', $2, 'pending')`, [uploadId, root]);
}

/** Marks a context run finished with its totals: `failed` when every file was rejected. */
export async function markUploadFinished(
  control: pg.ClientBase,
  uploadId: UploadId,
  status: 'completed' | 'failed',
  counts: UploadCounts,
  errors: readonly unknown[],
): Promise<void> {
  await control.query(
    `update nfr_upload set status = $2, rows_inserted = $3, rows_updated = $4, rows_unchanged = $5, rows_closed = $6, rows_rejected = $7,
            errors = $8::jsonb, finished_at = clock_timestamp()
      where upload_id = $1`,
    [uploadId, status, counts.inserted, counts.updated, counts.unchanged, counts.closed, counts.rejected, JSON.stringify(errors.slice(0, MAX_STORED_ERRORS))],
  );
}

/** Marks the upload failed (after the data transaction rolled back). */
export async function markUploadFailed(client: pg.ClientBase, uploadId: UploadId, rejected: number, errors: readonly unknown[]): Promise<void> {
  await client.query(
    `update nfr_upload
        set status = 'failed', started_at = coalesce(started_at, clock_timestamp()), finished_at = clock_timestamp(),
            rows_inserted = 0, rows_updated = 0, rows_unchanged = 0, rows_closed = 0, rows_rejected = $2, errors = $3::jsonb
      where upload_id = $1`,
    [uploadId, rejected, JSON.stringify(errors.slice(0, MAX_STORED_ERRORS))],
  );
}

/** Defined once, in ingest/shapes.ts (the API's response schema is generated from it). */
export type UploadRecord = z.infer<typeof uploadRecordSchema>;

/**
 * Upload batches, newest first, a page at a time, from the control database: the whole history,
 * whatever was restored since (an upload's versions may be gone from the live database).
 */
export async function listUploads(client: pg.ClientBase, page: { limit: number; offset: number }): Promise<z.infer<typeof uploadListSchema>> {
  const rows = await client.query<UploadRecord & { size_bytes: string | null; total: string; created_at: Date; started_at: Date | null; finished_at: Date | null }>(
    `select upload_id, kind, original_filename, size_bytes::text, status, rows_inserted, rows_updated, rows_unchanged,
            rows_closed, rows_rejected, jsonb_array_length(errors) as error_count, created_at, started_at, finished_at,
            count(*) over ()::text as total
       from nfr_upload order by created_at desc, upload_id desc limit $1 offset $2`,
    [page.limit, page.offset],
  );
  const total = rows.rows[0] ? Number(rows.rows[0].total) : page.offset === 0 ? 0 : Number((await client.query<{ n: string }>('select count(*)::text as n from nfr_upload')).rows[0]?.n ?? 0);
  return {
    uploads: rows.rows.map(({ total: _t, ...u }) => ({
      ...u,
      size_bytes: u.size_bytes === null ? null : Number(u.size_bytes),
      created_at: u.created_at.toISOString(),
      started_at: u.started_at?.toISOString() ?? null,
      finished_at: u.finished_at?.toISOString() ?? null,
    })),
    total,
    limit: page.limit,
    offset: page.offset,
  };
}
