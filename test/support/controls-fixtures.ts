/**
 * Fixtures for control ingestion tests: a migrated database with reference data (functions,
 * locations, risk themes written straight with SQL), CSV text builders, and a child-process
 * runner that records the child's peak RSS.
 */
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { runMeasured, type MeasuredRun } from '../../bench/ingest/measure.js';
import { DEFAULT_REFERENCE, insertReferenceData, type ReferenceSizes } from '../../bench/ingest/dataset.js';
import { CONTROL_COLUMNS } from '../../src/ingest/controls-csv.js';
import { targetFromUrl } from '../../src/postgres/connection.js';
import { migrateToHead } from '../../src/postgres/migrate.js';
import { NFR_BIN, nfrJson, REPO_ROOT, testEnv, type Env } from './cli.js';
import type { TestCluster } from './cluster.js';
import { withUrl } from './data.js';
import { waitFor } from './wait.js';

export interface ControlsDb {
  readonly url: string;
  readonly name: string;
  readonly env: Env;
  readonly dataDir: string;
  readonly dir: string;
}

/** A migrated database with reference rows, and the environment of nfr for it. */
export async function controlsDb(cluster: TestCluster, prefix: string, reference: ReferenceSizes = { functions: 5, locations: 3, themes: 4 }): Promise<ControlsDb> {
  const db = await cluster.createDatabase(prefix);
  await migrateToHead(targetFromUrl(db.url));
  await withClient(db.url, (c) => insertReferenceData(c, reference));
  const dir = cluster.tempDir(prefix);
  const dataDir = `${dir}/data`;
  return { ...db, dir, dataDir, env: testEnv({ DATABASE_URL: db.url, NFR_HOME: `${dir}/home`, POSTGRES_BACKUP_PATH: `${dir}/backups`, DATA_INGESTED_PATH: dataDir }) };
}

export { DEFAULT_REFERENCE };

export const withClient = withUrl;

/** One CSV field, quoted when RFC 4180 requires it. */
export function field(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** CSV text: a header of `columns` and one line per row (missing values empty), CRLF-separated. */
export function csv(rows: readonly Record<string, string>[], columns: readonly string[] = CONTROL_COLUMNS, eol = '\r\n'): string {
  return [columns.join(','), ...rows.map((r) => columns.map((c) => field(r[c] ?? '')).join(','))].join(eol) + eol;
}

/** A valid row for control `id` referencing the reference data of `controlsDb`. */
export function row(id: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    control_id: id,
    title: `Title of ${id}`,
    description: `Description of ${id}`,
    key_control: 'yes',
    control_type: 'preventative',
    execution: 'manual',
    frequency: 'quarterly',
    status: 'active',
    owner: 'owner@example.com',
    effective_date: '2026-01-31',
    sox_relevant: 'true',
    gdpr_relevant: '0',
    regulatory_references: 'SOX 404;GDPR Art. 32',
    owning_function_id: 'F-0001',
    owning_location_id: 'L-0001',
    related_function_ids: 'F-0002;F-0003',
    related_location_ids: 'L-0002',
    risk_theme_ids: 'RT-001',
    ...over,
  };
}

/** Row counts of the controls tables: all rows and current rows. */
export async function controlCounts(url: string): Promise<Record<string, { all: number; current: number }>> {
  return withClient(url, async (c) => {
    const out: Record<string, { all: number; current: number }> = {};
    for (const t of ['src_controls_ver_control', 'src_controls_rel_related_function', 'src_controls_rel_related_location', 'src_controls_rel_risk_theme']) {
      const r = await c.query<{ a: number; c: number }>(`select count(*)::int as a, (count(*) filter (where tx_to is null))::int as c from ${t}`);
      out[t] = { all: r.rows[0]?.a ?? -1, current: r.rows[0]?.c ?? -1 };
    }
    const ref = await c.query<{ n: number }>('select count(*)::int as n from src_controls_ref_control');
    out.src_controls_ref_control = { all: ref.rows[0]?.n ?? -1, current: ref.rows[0]?.n ?? -1 };
    return out;
  });
}

/** Runs nfr as a child process, recording its wall time and peak RSS. */
export function runNfrMeasured(args: readonly string[], env: Env): Promise<MeasuredRun> {
  return runMeasured(process.execPath, [NFR_BIN, ...args], { env, cwd: REPO_ROOT });
}

/** Resolves once a session with `applicationName` is connected to `database` (nfr holds the lock then). */
export async function waitForSession(url: string, database: string, applicationName: string, timeoutMs = 60_000): Promise<void> {
  await withClient(url, (c) =>
    waitFor(async () => ((await c.query('select 1 from pg_stat_activity where datname = $1 and application_name = $2', [database, applicationName])).rowCount ?? 0) > 0, {
      timeoutMs,
      what: `a session "${applicationName}" on ${database}`,
    }),
  );
}

/** Writes `text` to `dir/name`, answering the path. */
export async function writeInto(dir: string, name: string, text: string | Buffer): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

/** `nfr ingest controls <file> [flags] --json`. */
export const ingestControls = (file: string, env: Env, ...flags: string[]) => nfrJson(['ingest', 'controls', file, ...flags], env);
