/**
 * Control ingestion (SPEC §4.2): a controls CSV is stored as an upload, parsed as a stream,
 * validated row by row, COPYed into a temporary staging table, checked set-based against itself
 * and the database, and written with transaction-time versioning — all in one transaction, under
 * the operation lock shared with snapshots, so a rejected batch writes nothing and ingestion
 * never overlaps a snapshot or a restore.
 *
 *   store file (UPL-YYYY-NNNN) → upload recorded pending → running   (control database)
 *   begin → COPY rows → checks → [reject: rollback, upload failed]
 *         → versioned controls + relations → pipeline stage → commit → upload completed
 *
 * The upload's record is in the control database (upload-records.ts), which restores never
 * replace; the data goes to whatever database is live when the batch gets the lock.
 *
 * Memory stays bounded whatever the file size: records flow from the file through csv-parse and
 * validation into COPY with backpressure; only the first errors are kept.
 */
import { commitUnlessCancelled, throwIfCancelled, type CommitGate } from '../runtime/cancel.js';
import { faultPoint } from '../util/fault.js';
import path from 'node:path';
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { completeStage } from '../runtime/stage.js';
import { connect, withClient } from '../postgres/connection.js';
import { prepareSchema } from '../postgres/migrate.js';
import { waitingForLock, withOperation, type ProgressListener } from '../runtime/operation.js';
import type { Context } from '../runtime/context.js';
import { copyRows } from '../postgres/copy.js';
import { csvRecords } from './csv-records.js';
import { absentColumns, csvSyntaxError, parseHeader, rejectedValues, STAGING_COLUMNS, validateRecord, type ControlColumn, type HeaderLayout, type RowError, type StagingValues } from './controls-csv.js';
import { checkStaged, createStagingTables, keepAbsentColumns, loadKnownReferences, REJECTED_IDS, STAGING, stagedCount, stagedErrors, textChanges, unknownReferences } from './controls-staging.js';
import { refuseBinary } from './upload-check.js';
import { applyRelations, applyVersionedEntities, type RelationCounts, type VersionCounts } from './versioning.js';
import { adoptLegacyUploads, failDeadUploads, withUploadRecords } from './upload-records.js';
import { checkUploadFile, legacyUploadFloor, markUploadCompleted, markUploadFailed, markUploadRunning, recordUpload, storeUpload, type StoredUpload, type UploadId } from './uploads.js';

export interface ControlsIngestOptions {
  /** Write the valid rows and report the rest, instead of rejecting the whole file. */
  readonly skipInvalid?: boolean;
  /** The file is the complete inventory: current controls not in it are closed. */
  readonly closeMissing?: boolean;
  /** Validate and count what would change, write nothing, store nothing, allocate no upload id. */
  readonly dryRun?: boolean;
  readonly onProgress?: ProgressListener;
  /** A cancelled job: checked before the commit, so a cancelled batch writes nothing. */
  readonly signal?: AbortSignal;
  /** A job's commit, ordered against cancel requests (runtime/cancel.ts). */
  readonly commitGate?: CommitGate;
}

/** Errors listed in results and messages; the total is always reported too. */
export const MAX_REPORTED_ERRORS = 100;
/** Changed-text control ids listed in the result; enrichment finds all of them by upload_id. */
export const MAX_LISTED_CHANGES = 1000;

export interface ControlsIngestResult {
  /** null on a dry run. */
  readonly upload_id: UploadId | null;
  readonly file: string;
  /** Absolute path of the stored copy (null on a dry run). */
  readonly stored_file: string | null;
  readonly size_bytes: number;
  readonly sha256: string | null;
  readonly dry_run: boolean;
  readonly skip_invalid: boolean;
  readonly close_missing: boolean;
  readonly rows: { readonly read: number; readonly valid: number; readonly rejected: number };
  readonly controls: VersionCounts;
  readonly relations: { readonly related_functions: RelationCounts; readonly related_locations: RelationCounts; readonly risk_themes: RelationCounts };
  /**
   * Controls whose text hash changed (new ones included): what enrichment and the index must
   * recompute. `control_ids` lists at most MAX_LISTED_CHANGES; the new versions carry upload_id.
   */
  readonly text_changed: { readonly count: number; readonly control_ids: readonly string[]; readonly truncated: boolean };
  readonly errors: readonly RowError[];
  readonly error_count: number;
  readonly duration_ms: number;
}

const CONTROL_SPEC = {
  ref: 'src_controls_ref_control',
  ver: 'src_controls_ver_control',
  key: 'control_id',
  columns: [
    'title', 'description', 'family_id', 'family', 'key_control', 'control_type', 'execution', 'frequency', 'status', 'owner',
    'effective_date', 'review_date', 'sox_relevant', 'gdpr_relevant', 'regulatory_references', 'parent_control_id',
    'owning_function_id', 'owning_location_id', 'text_hash',
  ],
} as const;

const ANALYZED_TABLES = ['src_controls_ref_control', 'src_controls_ver_control', 'src_controls_rel_related_function', 'src_controls_rel_related_location', 'src_controls_rel_risk_theme'];

/** The batch's link lists beside the current links of the same controls (applyControlRelations). */
const LINKS = 'nfr_stg_links';

const RELATIONS = [
  { name: 'related_functions', table: 'src_controls_rel_related_function', b: 'function_id', list: 'related_function_ids' },
  { name: 'related_locations', table: 'src_controls_rel_related_location', b: 'location_id', list: 'related_location_ids' },
  { name: 'risk_themes', table: 'src_controls_rel_risk_theme', b: 'risk_theme_id', list: 'risk_theme_ids' },
] as const;

/**
 * Ingests a controls CSV under the operation lock. Resolves with the counts of what was written;
 * rejects with NfrError: INVALID_INPUT (bad file or rows; `details.errors`, `details.error_count`,
 * `details.upload_id`), LOCKED (another operation runs), NOT_FOUND, SCHEMA_MISMATCH.
 */
export async function ingestControlsFile(ctx: Context, file: string, options: ControlsIngestOptions = {}): Promise<ControlsIngestResult> {
  const started = Date.now();
  const size = await checkUploadFile(file, ctx.config.maxUploadBytes);
  const name = path.basename(file);
  // The API refuses a binary file before storing it (415); the CLI refuses it the same way.
  await refuseBinary(file, name);
  // Ingestion waits for a snapshot (or another ingestion) to finish rather than failing (SPEC §5.3).
  return withOperation(waitingForLock(ctx, ctx.config.ingestLockWaitSeconds), 'ingest', null, async () => {
    const data = await connect(ctx.target, 'nfr ingest controls');
    try {
      await prepareSchema(data, ctx.target, { readOnly: options.dryRun === true });
      if (options.dryRun) {
        const loaded = await loadBatch(data, file, name, null, options);
        return result(loaded, { upload_id: null, file, stored_file: null, size_bytes: size, sha256: null }, options, started);
      }
      return await withUploadRecords(ctx, async (control) => {
        await failDeadUploads(control, { holdingLock: true, live: data });
        await adoptLegacyUploads(data, control);
        options.onProgress?.({ phase: 'storing' });
        const stored = await storeUpload(control, ctx.config.dataIngestedPath, 'controls', file, { legacyFloor: await legacyUploadFloor(data, new Date().getUTCFullYear()) });
        await recordUpload(control, 'controls', name, stored);
        return processStored(ctx, data, control, stored, file, name, options, started);
      });
    } finally {
      await data.end().catch(() => {});
    }
  });
}

/**
 * Stores a file as a controls upload and records it `pending` in the control database, without
 * waiting for the operation lock and without touching the live database (a restore may be
 * replacing it): the API answers with the upload id at once and processes it as a job, against
 * whatever database is live when the job gets the lock.
 */
export async function acceptControlsUpload(ctx: Context, file: string, originalFilename: string): Promise<StoredUpload> {
  await checkUploadFile(file, ctx.config.maxUploadBytes);
  const legacyFloor = await bestEffortLegacyFloor(ctx);
  return withUploadRecords(ctx, async (control) => {
    const stored = await storeUpload(control, ctx.config.dataIngestedPath, 'controls', file, { legacyFloor });
    await recordUpload(control, 'controls', originalFilename, stored);
    return stored;
  });
}

/**
 * The live database's pre-move upload history as a floor for the next id, if the live database
 * answers now; 0 while a restore swaps it (the disk and the control database's own record still
 * keep every id unique: ingestion adopts that history under the lock).
 */
async function bestEffortLegacyFloor(ctx: Context): Promise<number> {
  try {
    return await withClient(ctx.target, (live) => legacyUploadFloor(live, new Date().getUTCFullYear()), 'nfr upload id');
  } catch {
    return 0;
  }
}

/** Processes an upload accepted with acceptControlsUpload, under the operation lock. */
export async function ingestStoredControls(ctx: Context, stored: StoredUpload, originalFilename: string, options: Omit<ControlsIngestOptions, 'dryRun'> = {}): Promise<ControlsIngestResult> {
  const started = Date.now();
  return withOperation(ctx, 'ingest', null, async () => {
    const data = await connect(ctx.target, 'nfr ingest controls');
    try {
      return await withUploadRecords(ctx, async (control) => {
        await failDeadUploads(control, { holdingLock: true, live: data });
        await prepareSchema(data, ctx.target);
        await adoptLegacyUploads(data, control);
        return processStored(ctx, data, control, stored, originalFilename, originalFilename, options, started);
      });
    } finally {
      await data.end().catch(() => {});
    }
  });
}

/** Runs the batch of a stored upload, recording running → completed | failed in the control database. */
async function processStored(
  ctx: Context,
  data: pg.ClientBase,
  control: pg.ClientBase,
  stored: StoredUpload,
  file: string,
  name: string,
  options: ControlsIngestOptions,
  started: number,
): Promise<ControlsIngestResult> {
  await markUploadRunning(control, stored.uploadId, ctx.target.database);
  let loaded: Loaded;
  try {
    loaded = await loadBatch(data, stored.storedPath, name, stored.uploadId, options);
  } catch (err) {
    const details = err instanceof NfrError ? err.details : undefined;
    const errors = Array.isArray(details?.errors) ? (details.errors as RowError[]) : [{ line: null, field: null, message: err instanceof Error ? err.message : String(err) }];
    const rejected = typeof details?.rows_rejected === 'number' ? details.rows_rejected : 0;
    await markUploadFailed(control, stored.uploadId, rejected, errors).catch(() => {});
    if (err instanceof NfrError) {
      throw new NfrError(err.code, `${err.message}\n  (upload ${stored.uploadId} is recorded as failed)`, { cause: err.cause, details: { ...err.details, upload_id: stored.uploadId } });
    }
    throw err;
  }
  // Committed: the record says so at once (it is in another database, so it cannot commit with the data).
  await markUploadCompleted(control, stored.uploadId, { ...loaded.controls, rejected: loaded.read - loaded.valid }, loaded.errors);
  // Fresh statistics for the tables the batch changed: without them the first enrichment or
  // index sync after a large load plans seq-scan-and-sort pages (56 s instead of 3 s for 20k).
  // VACUUM too, as after any bulk load: it sets the hint bits and visibility map of the new
  // rows once (0.6 s for 200k controls), rather than the next readers each paying for it, and
  // lets them use index-only scans. Only pages changed since the last vacuum are visited. A
  // batch that wrote nothing changed nothing (about 1 s saved per 200k unchanged rows).
  if (rowsWritten(loaded) > 0) await data.query(`vacuum (analyze) ${ANALYZED_TABLES.join(', ')}`);
  return result(loaded, { upload_id: stored.uploadId, file, stored_file: stored.storedPath, size_bytes: stored.sizeBytes, sha256: stored.sha256 }, options, started);
}

interface Loaded {
  readonly read: number;
  readonly valid: number;
  readonly errors: readonly RowError[];
  readonly errorCount: number;
  readonly controls: VersionCounts;
  readonly relations: ControlsIngestResult['relations'];
  readonly textChanged: { count: number; controlIds: string[] };
}

/** One transaction: stage, check, apply; commits (rolls back on a dry run or any failure). */
async function loadBatch(client: pg.ClientBase, file: string, name: string, uploadId: UploadId | null, options: ControlsIngestOptions): Promise<Loaded> {
  // Staging lives in temporary tables, whose pages sit in the session's local buffers (8MB by
  // default); a batch that does not fit is written out and read back by every statement. Must be
  // set before the session first touches a temporary table.
  await client.query("set temp_buffers = '256MB'");
  await client.query('begin');
  try {
    // Hash joins over a whole batch; the default 4MB would spill them to disk.
    await client.query("set local work_mem = '64MB'");
    // The batch's statements each run once over the whole batch, where JIT compiling them costs
    // more than it saves: the parent checks' estimates (a recursive walk) are high enough to
    // trigger it, 0.3-2 s apiece for queries that then run in milliseconds.
    await client.query('set local jit = off');
    await createStagingTables(client);
    options.onProgress?.({ phase: 'parsing', bytes: 0 });
    const parsed = await stageFile(client, file, name, options.onProgress);
    // Temporary tables are never auto-analyzed. Row count and the join keys are what the plans
    // need; skipping the long text columns keeps this cheap.
    await client.query(`analyze ${STAGING} (line, control_id, parent_control_id, owning_function_id, owning_location_id)`);
    // A column the file does not have means "not provided": existing controls keep their values
    // and links for it. Done before the checks, so a kept parent is checked like a given one.
    await keepAbsentColumns(client, parsed.absent);

    options.onProgress?.({ phase: 'checking' });
    await checkStaged(client, { closeMissing: options.closeMissing === true, rejectedWhileParsing: parsed.errorCount > 0 });
    const valid = await stagedCount(client);
    const sqlErrors = await stagedErrors(client, MAX_REPORTED_ERRORS);
    const errors = [...parsed.errors, ...sqlErrors.first].sort((a, b) => a.line - b.line).slice(0, MAX_REPORTED_ERRORS);
    const errorCount = parsed.errorCount + sqlErrors.count;
    const rejected = parsed.read - valid;
    if (rejected > 0 && !options.skipInvalid) {
      throw new NfrError('INVALID_INPUT', rejectionMessage(name, rejected, errorCount, errors), { details: { file: name, rows_read: parsed.read, rows_rejected: rejected, error_count: errorCount, errors } });
    }
    if (valid === 0 && options.closeMissing) {
      throw new NfrError('INVALID_INPUT', `${name}: no valid rows; with --close-missing that would close every control, so nothing was written`, { details: { file: name, rows_rejected: rejected, error_count: errorCount, errors } });
    }

    options.onProgress?.({ phase: 'writing' });
    let changed = { count: 0, controlIds: [] as string[] };
    const versions = await applyVersionedEntities(client, CONTROL_SPEC, STAGING, {
      uploadId,
      closeMissing: false,
      beforeWrite: async (changedKeys) => {
        changed = await textChanges(client, changedKeys, MAX_LISTED_CHANGES);
      },
    });
    const closed = options.closeMissing ? await closeMissingControls(client) : 0;
    const controls = { ...versions, closed };
    const relations = await applyControlRelations(client, uploadId, options.closeMissing === true);

    if (uploadId !== null) await completeStage(client, 'controls', await currentCounts(client));
    await faultPoint('before-commit', options.signal);
    if (options.dryRun) {
      throwIfCancelled(options, 'before the batch was committed');
      await client.query('rollback');
    } else await commitUnlessCancelled(options, 'before the batch was committed', async () => void (await client.query('commit')));
    // A kill here leaves the batch committed and its record (control database) `running`.
    if (!options.dryRun) await faultPoint('after-commit');
    return { read: parsed.read, valid, errors, errorCount, controls, relations, textChanged: changed };
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  }
}

/** Streams the CSV through validation into the staging table; returns counts and the first errors. */
async function stageFile(
  client: pg.ClientBase,
  file: string,
  name: string,
  onProgress: ProgressListener | undefined,
): Promise<{ read: number; errors: RowError[]; errorCount: number; absent: ControlColumn[] }> {
  let bytesRead = 0;
  const known = await loadKnownReferences(client);
  // Parsed on a worker thread, so parsing overlaps validation and COPY (csv-records.ts).
  const records = csvRecords(file, (bytes) => (bytesRead = bytes));
  let read = 0;
  let errorCount = 0;
  let layout: HeaderLayout | undefined;
  const errors: RowError[] = [];

  async function* rows(): AsyncGenerator<StagingValues> {
    let line = 1;
    let lastReport = 0;
    try {
      for await (const record of records) {
        const start = line;
        line += 1 + newlinesIn(record);
        if (layout === undefined) {
          layout = parseHeader(record, name);
          continue;
        }
        // A blank line parses as one empty field: no data, not a row.
        if (record.length === 1 && record[0] === '') continue;
        read++;
        const r = validateRecord(layout, record, start);
        const problems = r.ok ? unknownReferences(r.row, start, known) : r.errors;
        if (problems.length === 0 && r.ok) {
          yield r.values;
        } else {
          errorCount += problems.length;
          for (const e of problems) if (errors.length < MAX_REPORTED_ERRORS) errors.push(e);
          yield rejectedValues(start, r.controlId);
        }
        if (onProgress && bytesRead - lastReport >= 1 << 24) {
          lastReport = bytesRead;
          onProgress({ phase: 'parsing', bytes: bytesRead });
        }
      }
    } catch (err) {
      throw csvError(err, name, layout);
    }
  }

  try {
    await copyRows(client, STAGING, STAGING_COLUMNS, rows());
  } catch (err) {
    // Stop the parser thread, which may be mid-file.
    await records.return(undefined).catch(() => {});
    throw err;
  }
  if (layout === undefined) throw new NfrError('INVALID_INPUT', `${name} is empty: expected a header row naming the columns (control_id, title, ...) and one row per control`, { details: { file: name } });
  if (read === 0) throw new NfrError('INVALID_INPUT', `${name} has a header but no data rows`, { details: { file: name } });
  return { read, errors, errorCount, absent: absentColumns(layout) };
}

/** Lines a record spans beyond its first: newlines inside quoted fields. */
function newlinesIn(record: readonly string[]): number {
  let n = 0;
  for (const field of record) {
    for (let i = field.indexOf('\n'); i !== -1; i = field.indexOf('\n', i + 1)) n++;
  }
  return n;
}

/** csv-parse's syntax errors (unclosed quote, stray quote) become INVALID_INPUT with the line. */
function csvError(err: unknown, name: string, layout: HeaderLayout | undefined): unknown {
  if (err instanceof NfrError) return err;
  const header = (err as { header?: unknown }).header;
  if (layout === undefined && Array.isArray(header)) {
    try {
      layout = parseHeader(header as string[], name);
    } catch {
      // A bad header is named by the syntax error's line alone.
    }
  }
  return csvSyntaxError(err, name, 'CSV', 'nothing was written', layout) ?? err;
}

function rejectionMessage(name: string, rejected: number, errorCount: number, errors: readonly RowError[]): string {
  const shown = errors.slice(0, 10).map((e) => `  line ${e.line}, ${e.field}: ${e.message}`);
  const more = errorCount > shown.length ? `\n  ... and ${errorCount - shown.length} more` : '';
  return `${name}: ${rejected} invalid row(s), ${errorCount} problem(s); nothing was written (--skip-invalid loads the valid rows)\n${shown.join('\n')}${more}`;
}

/** --close-missing: closes current controls absent from the file, except those whose row was rejected. */
async function closeMissingControls(client: pg.ClientBase): Promise<number> {
  const r = await client.query(
    `update src_controls_ver_control v set tx_to = now()
      where v.tx_to is null
        and not exists (select 1 from ${STAGING} s where s.control_id = v.control_id)
        and not exists (select 1 from ${REJECTED_IDS} x where x.control_id = v.control_id)`,
  );
  return r.rowCount ?? 0;
}

/**
 * Relations, complete for every control of the batch ('batch-a'): a link dropped from a row is
 * closed, links of controls not in the file are left alone. With --close-missing, links of
 * controls that are no longer current are closed too.
 */
async function applyControlRelations(client: pg.ClientBase, uploadId: UploadId | null, closeMissing: boolean): Promise<ControlsIngestResult['relations']> {
  // One pass sets each staged control's links (sorted and distinct since validation) beside its
  // current ones; only the controls where they differ go through the pairwise close/open below.
  // Re-ingesting an unchanged file then costs three grouped index scans instead of three
  // temporary pair tables and their anti-joins (1 s instead of 3.5 s for 200k controls). Should
  // the two orders ever disagree, a control only takes the exact path without need.
  const current = (rel: (typeof RELATIONS)[number]) =>
    `(select control_id, array_agg(${rel.b} order by ${rel.b} collate "C") as ids from ${rel.table} where tx_to is null group by control_id)`;
  await client.query(`
    create temp table ${LINKS} on commit drop as
    select s.control_id,
           ${RELATIONS.map((rel) => `coalesce(s.${rel.list}, '{}') as ${rel.name}`).join(',\n           ')},
           ${RELATIONS.map((rel) => `coalesce(${rel.name}_now.ids, '{}') as ${rel.name}_now`).join(',\n           ')}
      from ${STAGING} s
      ${RELATIONS.map((rel) => `left join ${current(rel)} ${rel.name}_now on ${rel.name}_now.control_id = s.control_id`).join('\n      ')}`);
  const totals = await client.query<Record<string, number>>(
    `select ${RELATIONS.map((rel) => `coalesce(sum(cardinality(${rel.name})), 0)::int as ${rel.name}`).join(', ')} from ${LINKS}`,
  );

  const out: Record<string, RelationCounts> = {};
  for (const rel of RELATIONS) {
    const changed = `nfr_stg_changed_${rel.name}`;
    const pairs = `nfr_stg_${rel.name}`;
    const created = await client.query(
      `create temp table ${changed} on commit drop as
       select control_id, ${rel.name} as ids from ${LINKS} where ${rel.name} is distinct from ${rel.name}_now`,
    );
    let counts: RelationCounts = { opened: 0, closed: 0, unchanged: 0 };
    if ((created.rowCount ?? 0) > 0) {
      await client.query(`create temp table ${pairs} on commit drop as select control_id, unnest(ids) as ${rel.b} from ${changed}`);
      // Temporary tables are never auto-analyzed; without statistics the anti-joins below plan badly.
      await client.query(`analyze ${changed}`);
      await client.query(`analyze ${pairs}`);
      counts = await applyRelations(client, { table: rel.table, a: 'control_id', b: rel.b }, pairs, { uploadId, scope: 'batch-a', scopeTable: changed, scopeKey: 'control_id' });
    }
    let closed = counts.closed;
    if (closeMissing) {
      const r = await client.query(
        `update ${rel.table} r set tx_to = now()
          where r.tx_to is null
            and not exists (select 1 from src_controls_ver_control v where v.control_id = r.control_id and v.tx_to is null)`,
      );
      closed += r.rowCount ?? 0;
    }
    out[rel.name] = { opened: counts.opened, closed, unchanged: (totals.rows[0]?.[rel.name] ?? 0) - counts.opened };
  }
  return out as unknown as ControlsIngestResult['relations'];
}

/** Versions and links the batch opened or closed. */
function rowsWritten(loaded: Loaded): number {
  const c = loaded.controls;
  return c.inserted + c.updated + c.closed + Object.values(loaded.relations).reduce((n, r) => n + r.opened + r.closed, 0);
}

/** Current rows per controls table: the counts the pipeline stage records. */
async function currentCounts(client: pg.ClientBase): Promise<Record<string, number>> {
  const r = await client.query<{ controls: number; related_functions: number; related_locations: number; risk_themes: number }>(
    `select (select count(*)::int from src_controls_ver_control where tx_to is null) as controls,
            (select count(*)::int from src_controls_rel_related_function where tx_to is null) as related_functions,
            (select count(*)::int from src_controls_rel_related_location where tx_to is null) as related_locations,
            (select count(*)::int from src_controls_rel_risk_theme where tx_to is null) as risk_themes`,
  );
  const row = r.rows[0];
  return {
    controls: row?.controls ?? 0,
    control_related_functions: row?.related_functions ?? 0,
    control_related_locations: row?.related_locations ?? 0,
    control_risk_themes: row?.risk_themes ?? 0,
  };
}

function result(
  loaded: Loaded,
  upload: Pick<ControlsIngestResult, 'upload_id' | 'file' | 'stored_file' | 'size_bytes' | 'sha256'>,
  options: ControlsIngestOptions,
  started: number,
): ControlsIngestResult {
  return {
    ...upload,
    dry_run: options.dryRun === true,
    skip_invalid: options.skipInvalid === true,
    close_missing: options.closeMissing === true,
    rows: { read: loaded.read, valid: loaded.valid, rejected: loaded.read - loaded.valid },
    controls: loaded.controls,
    relations: loaded.relations,
    text_changed: { count: loaded.textChanged.count, control_ids: loaded.textChanged.controlIds, truncated: loaded.textChanged.count > loaded.textChanged.controlIds.length },
    errors: loaded.errors,
    error_count: loaded.errorCount,
    duration_ms: Date.now() - started,
  };
}
