/**
 * Context provider ingestion (SPEC §4.1): the latest YYYY-MM-DD folder of each provider is read
 * line by line, COPYed into temporary staging tables, checked (per line in TS, across lines and
 * against the database in SQL), and written with transaction-time versioning, all in one
 * transaction under the operation lock, so snapshots never see half a run.
 *
 * Policy per file: any bad line rejects the whole file and nothing of it is written; with
 * `skipInvalid` the valid lines are written, bad lines are reported, and an entity whose line was
 * bad keeps its current version instead of being closed. An empty file is rejected unless
 * `allowEmpty` (a provider that sends nothing has usually failed, and accepting it would close
 * every entity of the file). Files are applied in order (organization, risk themes, assessment
 * units), so assessment units are checked against whatever functions and locations are current
 * at that point: this run's when functions.jsonl was accepted, the previous ones when it was
 * rejected or its provider folder is absent.
 */
import { commitUnlessCancelled, throwIfCancelled } from '../runtime/cancel.js';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { NfrError, toNfrError, type InputError } from '../errors.js';
import { connect, escapeIdentifier as id } from '../postgres/connection.js';
import { prepareSchema } from '../postgres/migrate.js';
import { completeStage, getPipelineStage, type PipelineStage } from '../runtime/stage.js';
import { waitingForLock, withOperation } from '../runtime/operation.js';
import type { Context } from '../runtime/context.js';
import { CONTEXT_FILES, CURRENT_COUNT_TABLES, ID_PATTERN, PROVIDERS, runChecks, type ChangeCounts, type CheckMode, type FileSpec, type ProviderName } from './context-providers.js';
import { copyRows, type CopyValue } from '../postgres/copy.js';
import { readJsonLines } from './jsonl.js';
import { adoptLegacyUploads, failDeadUploads, withUploadRecords } from './upload-records.js';
import { legacyUploadFloor, markUploadFailed, markUploadFinished, markUploadRunning, MAX_STORED_ERRORS, nextUploadId, recordContextRun } from './uploads.js';

export interface ContextIngestOptions {
  /** Providers directory; default CONTEXT_PROVIDERS_PATH. */
  readonly path?: string | undefined;
  /** Validate, stage and count the changes, then roll everything back. */
  readonly dryRun?: boolean | undefined;
  /** Write the valid lines of a file that has bad ones (default: reject the file). */
  readonly skipInvalid?: boolean | undefined;
  /** Accept a file with no records (it closes every entity of that file). */
  readonly allowEmpty?: boolean | undefined;
  /** Errors listed per file in the report (all are counted). Default 100. */
  readonly maxErrorsPerFile?: number | undefined;
}

/** A rejected line or file of a provider: always names its file. */
export type LineError = InputError & { readonly file: string };

export interface FileReport extends ChangeCounts {
  readonly provider: ProviderName;
  /** Path relative to the providers directory, e.g. organization/2026-03-01/functions.jsonl. */
  readonly file: string;
  readonly path: string;
  readonly date: string;
  /** applied: written (possibly without its bad lines); rejected: nothing of it written; missing: not in the folder. */
  readonly status: 'applied' | 'rejected' | 'missing';
  readonly lines_read: number;
  readonly valid: number;
  readonly rejected: number;
  /** Entities whose line was rejected under --skip-invalid and that kept their current version. */
  readonly kept: number;
  /** Counts per table written (versioned tables and relations). */
  readonly tables: Record<string, ChangeCounts>;
  readonly errors: readonly LineError[];
  readonly errors_total: number;
}

export interface ProviderReport {
  readonly provider: ProviderName;
  /** found: a date folder was used; missing: no provider folder or no date folder in it (skipped). */
  readonly status: 'found' | 'missing';
  readonly date: string | null;
  readonly folder: string | null;
  readonly files: readonly FileReport[];
}

export interface ContextIngestReport {
  readonly path: string;
  /** The upload record of this run (control database); null for a dry run, which records none. */
  readonly upload_id: string | null;
  readonly dry_run: boolean;
  readonly skip_invalid: boolean;
  readonly allow_empty: boolean;
  /** True when every file found was applied. */
  readonly ok: boolean;
  readonly providers: readonly ProviderReport[];
  readonly totals: ChangeCounts & { readonly files_applied: number; readonly files_rejected: number; readonly lines_read: number; readonly rejected: number };
  /** Pipeline stage after the run (before the rollback of a dry run). */
  readonly stage: PipelineStage;
  readonly duration_ms: number;
}

const DATE_FOLDER = /^(\d{4})-(\d{2})-(\d{2})$/;

function isCalendarDate(name: string): boolean {
  const m = DATE_FOLDER.exec(name);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === name;
}

/** The latest YYYY-MM-DD folder of a provider (other names are ignored), or null. */
export async function latestDateFolder(providerDir: string): Promise<string | null> {
  let entries;
  try {
    entries = await readdir(providerDir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
  const dates = entries.filter((e) => e.isDirectory() && isCalendarDate(e.name)).map((e) => e.name);
  return dates.sort().at(-1) ?? null;
}

/** Runs context ingestion under the operation lock; see the module comment for the policy. */
export async function ingestContext(ctx: Context, options: ContextIngestOptions = {}): Promise<ContextIngestReport> {
  const started = Date.now();
  // An empty --path would resolve to the working directory and read whatever folders it holds.
  if (options.path?.trim() === '') throw new NfrError('USAGE', '--path is empty: give the context providers directory (or leave --path out for CONTEXT_PROVIDERS_PATH)');
  const root = path.resolve(options.path ?? ctx.config.contextProvidersPath);
  const rootStat = await stat(root).catch(() => undefined);
  if (rootStat === undefined) {
    throw new NfrError('NOT_FOUND', `context providers directory ${root} does not exist; pass --path DIR or set CONTEXT_PROVIDERS_PATH`);
  }
  if (!rootStat.isDirectory()) {
    throw new NfrError('INVALID_INPUT', `context providers directory ${root} is not a directory; pass --path DIR (the folder holding organization/, risk_theme/, assessment_unit/) or set CONTEXT_PROVIDERS_PATH`);
  }
  const folders = new Map<ProviderName, string | null>();
  for (const provider of PROVIDERS) folders.set(provider, await latestDateFolder(path.join(root, provider)));
  if ([...folders.values()].every((d) => d === null)) {
    throw new NfrError('NOT_FOUND', `no provider folder with a YYYY-MM-DD folder under ${root} (expected ${PROVIDERS.map((p) => `${p}/<date>/`).join(', ')})`);
  }

  // Ingestion waits for a snapshot (or another ingestion) to finish rather than failing (SPEC §5.3).
  return withOperation(waitingForLock(ctx, ctx.config.ingestLockWaitSeconds), 'ingest', null, async () => {
    const client = await connect(ctx.target, 'nfr ingest context');
    try {
      await prepareSchema(client, ctx.target, { readOnly: options.dryRun === true });
      // A dry run writes no upload record and needs no id.
      if (options.dryRun) return await runBatch(client, root, folders, null, options, started);
      return await withUploadRecords(ctx, async (control) => {
        await failDeadUploads(control, { holdingLock: true, live: client });
        await adoptLegacyUploads(client, control);
        const year = new Date().getUTCFullYear();
        const uploadId = await nextUploadId(control, path.join(ctx.config.dataIngestedPath, 'controls'), year, await legacyUploadFloor(client, year));
        await recordContextRun(control, uploadId, root);
        await markUploadRunning(control, uploadId, ctx.target.database);
        let report: ContextIngestReport;
        try {
          report = await runBatch(client, root, folders, uploadId, options, started);
        } catch (err) {
          const e = toNfrError(err);
          await markUploadFailed(control, uploadId, 0, [{ line: null, field: null, message: e.message }]).catch(() => {});
          throw err;
        }
        const t = report.totals;
        const status = t.files_applied === 0 && t.files_rejected > 0 ? 'failed' : 'completed';
        const errors = report.providers.flatMap((p) => p.files.flatMap((f) => f.errors)).slice(0, MAX_STORED_ERRORS);
        await markUploadFinished(control, uploadId, status, t, errors);
        return report;
      });
    } finally {
      await client.end().catch(() => {});
    }
  });

  /** One transaction; a dry run rolls it back. The upload record is written around it, in the control database. */
  async function runBatch(client: pg.ClientBase, root: string, folders: Map<ProviderName, string | null>, uploadId: string | null, options: ContextIngestOptions, started: number): Promise<ContextIngestReport> {
    await client.query('begin');
    try {
      const report = await run(client, root, folders, uploadId, options, started);
      if (options.dryRun) {
        throwIfCancelled(ctx, 'before the context batch was committed');
        await client.query('rollback');
      } else await commitUnlessCancelled(ctx, 'before the context batch was committed', async () => void (await client.query('commit')));
      return report;
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    }
  }
}

async function run(
  client: pg.ClientBase,
  root: string,
  folders: Map<ProviderName, string | null>,
  uploadId: string | null,
  options: ContextIngestOptions,
  started: number,
): Promise<ContextIngestReport> {
  await client.query('create temp table nfr_stg_errors (file text not null, line integer, field text, message text not null) on commit drop');

  const providers: ProviderReport[] = [];
  for (const provider of PROVIDERS) {
    const date = folders.get(provider) ?? null;
    if (date === null) {
      providers.push({ provider, status: 'missing', date: null, folder: null, files: [] });
      continue;
    }
    const folder = path.join(root, provider, date);
    const files: FileReport[] = [];
    for (const spec of CONTEXT_FILES.filter((f) => f.provider === provider)) {
      files.push(await ingestFile(client, spec, root, date, uploadId, options));
    }
    providers.push({ provider, status: 'found', date, folder, files });
  }

  const all = providers.flatMap((p) => p.files);
  const sum = (k: keyof ChangeCounts | 'lines_read' | 'rejected') => all.reduce((n, f) => n + f[k], 0);
  const applied = all.filter((f) => f.status === 'applied').length;
  const totals = {
    files_applied: applied,
    files_rejected: all.length - applied,
    lines_read: sum('lines_read'),
    rejected: sum('rejected'),
    inserted: sum('inserted'),
    updated: sum('updated'),
    unchanged: sum('unchanged'),
    closed: sum('closed'),
  };
  if (applied > 0) await completeStage(client, 'context', await currentCounts(client));
  return {
    path: root,
    upload_id: uploadId,
    dry_run: options.dryRun === true,
    skip_invalid: options.skipInvalid === true,
    allow_empty: options.allowEmpty === true,
    ok: totals.files_rejected === 0,
    providers,
    totals,
    stage: (await getPipelineStage(client)).stage,
    duration_ms: Date.now() - started,
  };
}

async function currentCounts(client: pg.ClientBase): Promise<Record<string, number>> {
  const parts = Object.entries(CURRENT_COUNT_TABLES).map(([name, table]) => `(select count(*) from ${id(table)} where tx_to is null)::int as ${id(name)}`);
  const r = await client.query<Record<string, number>>(`select ${parts.join(', ')}`);
  return r.rows[0] ?? {};
}

const ZERO: ChangeCounts = { inserted: 0, updated: 0, unchanged: 0, closed: 0 };

async function ingestFile(client: pg.ClientBase, spec: FileSpec, root: string, date: string, uploadId: string | null, options: ContextIngestOptions): Promise<FileReport> {
  const file = path.join(root, spec.provider, date, spec.file);
  const rel = path.relative(root, file).split(path.sep).join('/');
  const cap = options.maxErrorsPerFile ?? 100;
  const base = { provider: spec.provider, file: rel, path: file, date, kept: 0, tables: {} };
  const rejectWith = (lines: number, errors: readonly LineError[], total: number, read = lines): FileReport => ({
    ...base,
    ...ZERO,
    status: 'rejected',
    lines_read: read,
    valid: read - lines,
    rejected: lines,
    errors: errors.slice(0, cap),
    errors_total: total,
  });

  const fileStat = await stat(file).catch(() => undefined);
  if (!fileStat?.isFile()) {
    return { ...rejectWith(0, [{ file: rel, line: null, field: null, message: `${spec.file} is missing from ${spec.provider}/${date}/; nothing of it was changed` }], 1), status: 'missing' };
  }

  const stg = id(spec.staging);
  const key = id(spec.key.column);
  await client.query(
    `create temp table ${stg} (line integer, valid boolean not null, kept boolean not null default false, ${key} text,
       ${spec.columns.map((c) => `${id(c.name)} ${c.type}`).join(', ')}) on commit drop`,
  );

  // Per-line problems are counted in full but only the first `cap` are kept, so memory stays bounded.
  const lineErrors: LineError[] = [];
  let lineErrorsTotal = 0;
  let badLines = 0;
  let read = 0;
  const report = (line: number, field: string | null, message: string) => {
    lineErrorsTotal++;
    if (lineErrors.length < cap) lineErrors.push({ file: rel, line, field, message });
  };
  const nulls: CopyValue[] = spec.columns.map(() => null);
  async function* rows(): AsyncGenerator<readonly CopyValue[]> {
    for await (const rec of readJsonLines(file)) {
      read++;
      if (rec.kind === 'bad') {
        badLines++;
        report(rec.line, null, rec.message);
        continue;
      }
      const value = rec.value;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        badLines++;
        report(rec.line, null, 'expected a JSON object');
        continue;
      }
      // Unknown fields are errors, as unknown CSV columns are: a misspelt field must not be
      // silently dropped (and the provider's value with it).
      const parsed = spec.schema.strict().safeParse(value);
      if (parsed.success) {
        yield [rec.line, true, ...spec.toRow(parsed.data)];
        continue;
      }
      badLines++;
      for (const issue of parsed.error.issues) {
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) report(rec.line, key, `unknown field (the fields of ${spec.file} are ${Object.keys(spec.schema.shape).join(', ')})`);
          continue;
        }
        const field = issue.path.length > 0 ? issue.path.map(String).join('.') : null;
        const top = issue.path[0];
        const missing = issue.path.length === 1 && typeof top === 'string' && !(top in value);
        report(rec.line, field, missing ? 'required field is missing' : issue.message);
      }
      // A bad line whose id is readable is staged as invalid: duplicates and --skip-invalid's
      // "keep the current version" need to know which entity it was about.
      const k = (value as Record<string, unknown>)[spec.key.field];
      if (typeof k === 'string' && ID_PATTERN.test(k)) yield [rec.line, false, k, ...nulls];
    }
  }
  await copyRows(client, spec.staging, ['line', 'valid', spec.key.column, ...spec.columns.map((c) => c.name)], rows());
  await client.query(`create index on ${stg} (${key})`);
  await client.query(`analyze ${stg}`);

  if (read === 0 && !options.allowEmpty) {
    return rejectWith(0, [{ file: rel, line: null, field: null, message: `${spec.file} has no records; an empty file would close every entity it holds, so it is rejected (pass --allow-empty to accept it)` }], 1);
  }

  const mode: CheckMode = options.skipInvalid ? 'skip' : 'reject';
  const checked = await runChecks(client, spec, rel, mode);
  const sqlErrors = await client.query<{ line: number; field: string | null; message: string }>(
    'select line, field, message from nfr_stg_errors where file = $1 order by line, field limit $2',
    [rel, cap],
  );
  const errors = [...lineErrors, ...sqlErrors.rows.map((e) => ({ file: rel, line: e.line, field: e.field, message: e.message }))]
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
    .slice(0, cap);
  const rejected = badLines + checked.rejectedLines;
  const errorsTotal = lineErrorsTotal + checked.errors;

  if (rejected > 0 && mode === 'reject') return rejectWith(rejected, errors, errorsTotal, read);
  if (read > 0 && rejected === read) {
    const all: LineError = { file: rel, line: null, field: null, message: 'no valid line left; the file is rejected rather than closing every entity it holds' };
    return rejectWith(rejected, [...errors, all], errorsTotal + 1, read);
  }

  await client.query(`delete from ${stg} where not valid`);
  const tables = await spec.apply(client, uploadId);
  const totals = Object.values(tables).reduce<ChangeCounts>(
    (t, c) => ({ inserted: t.inserted + c.inserted, updated: t.updated + c.updated, unchanged: t.unchanged + c.unchanged, closed: t.closed + c.closed }),
    ZERO,
  );
  return { ...base, ...totals, kept: checked.kept, status: 'applied', lines_read: read, valid: read - rejected, rejected, tables, errors, errors_total: errorsTotal };
}
