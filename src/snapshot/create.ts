/**
 * Snapshot create: one consistent point in time, taken while the database stays online.
 *
 * A REPEATABLE READ transaction exports its snapshot and pg_dump -Fd -j dumps exactly that
 * snapshot. The manifest's row counts describe the archive exactly: uncompressed data files are
 * counted as they are hashed (one line per row); a table whose file cannot be counted that way
 * (compressed archives) is counted with count(*) in the exporting transaction, the same snapshot.
 * Everything is written under `.tmp/<id>`, checksummed, given its manifest, and only then renamed
 * into the catalog: a killed create never appears as completed.
 */
import { throwIfCancelled } from '../runtime/cancel.js';
import { rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { NfrError, toNfrError } from '../errors.js';
import { conninfoDbname, connect, serverMajor, toolEnv, withDatabase } from '../postgres/connection.js';
import { countRows, databaseInfo, listTables, type TableRef } from '../postgres/databases.js';
import { schemaVersion } from '../postgres/migrate.js';
import { findClientTool, programVersion } from '../postgres/tools.js';
import { ensureDir, fsyncDir, pathExists } from '../util/fs.js';
import { faultPoint } from '../util/fault.js';
import { timing } from '../util/timing.js';
import { runProgram } from '../util/process.js';
import { NFR_VERSION } from '../version.js';
import { readHistoryMark } from './diff/history-mark.js';
import { captureFiles } from './full-files.js';
import { GrowingFileHasher } from './growing-hasher.js';
import { MANIFEST_FORMAT, writeManifest, type Manifest, type TableCount } from './manifest.js';
import type { SnapshotId } from './ids.js';
import { reserveSnapshotId, recordEvent } from './state.js';
import { withOperation, type Operation, type ProgressListener } from '../runtime/operation.js';
import { DUMP_DIR, snapshotDir } from './store.js';
import type { Context } from '../runtime/context.js';
import type { WarmCopy } from './warm-copies.js';
import type { OffsiteCopy } from './offsite/copies.js';

export interface CreateOptions {
  readonly name: string;
  readonly description?: string | undefined;
  readonly tags?: readonly string[] | undefined;
  readonly jobs?: number | undefined;
  readonly onProgress?: ProgressListener | undefined;
  /** An id reserved earlier with reserveSnapshotId (the API answers with it before the create runs). */
  readonly id?: SnapshotId | undefined;
  /** Also capture the vector index (as its backend snapshots it) and DATA_INGESTED_PATH. */
  readonly full?: boolean | undefined;
  /**
   * The name the manifest records, when ctx.target is not the live database itself (a
   * pre-restore backup dumped from the database a restore replaced).
   */
  readonly databaseName?: string | undefined;
  /**
   * Awaited before the snapshot is renamed into the catalog, its first change anyone sees (the
   * CLI's audit start, recorded while the dump runs); a rejection fails the create there.
   */
  readonly beforeCatalog?: (() => Promise<void>) | undefined;
}

const NAME_MAX = 200;
const TAG = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/**
 * Not printable: C0 and C1 controls and DEL (terminal escapes: U+009B is a CSI on its own), the
 * line and paragraph separators, and the bidirectional overrides and isolates, with which a name
 * shows in `list` as something it is not. The description may hold tabs and newlines.
 */
const NOT_PRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const NOT_PRINTABLE_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Checks name, description and tags before anything is locked or written. */
export function validateCreateOptions(options: CreateOptions): void {
  if (typeof options.name !== 'string' || options.name.trim() === '' || options.name.length > NAME_MAX || NOT_PRINTABLE.test(options.name)) {
    throw new NfrError('INVALID_INPUT', `invalid snapshot name ${JSON.stringify(options.name)}: expected 1 to ${NAME_MAX} printable characters`);
  }
  if (options.description !== undefined && (options.description.length > 2000 || NOT_PRINTABLE_TEXT.test(options.description))) {
    throw new NfrError('INVALID_INPUT', 'invalid snapshot description: expected at most 2000 printable characters');
  }
  for (const tag of options.tags ?? []) {
    if (!TAG.test(tag)) throw new NfrError('INVALID_INPUT', `invalid tag ${JSON.stringify(tag)}: expected letters, digits and . _ : - (at most 64)`);
  }
}

/** Takes a snapshot of the live database under the operation lock (and warms it with `warm`). */
export async function createSnapshot(ctx: Context, options: CreateOptions & { readonly warm?: boolean | undefined }): Promise<Manifest & { warm?: WarmCopy; offsite?: OffsiteCopy }> {
  validateCreateOptions(options);
  if (options.full) await assertFullSourcesAreDirectories(ctx);
  return withOperation(ctx, 'create', null, async (op) => {
    const manifest = await createSnapshotLocked(ctx, op, options);
    if (!options.warm) return manifest;
    // Same lock, so nothing runs between the dump and its warm copy.
    const { warmSnapshotLocked } = await import('./warm.js');
    const warmed = await warmSnapshotLocked(ctx, op, { id: manifest.id as SnapshotId, jobs: options.jobs, onProgress: options.onProgress }).catch((err: unknown) => {
      const e = toNfrError(err);
      throw new NfrError(e.code, `snapshot ${manifest.id} was created, but warming it failed: ${e.message}; retry with nfr snapshot warm --id ${manifest.id}`, { cause: err });
    });
    return { ...manifest, warm: warmed.warm };
  });
}

/**
 * A full snapshot copies DATA_INGESTED_PATH and the embedded index's directory. A file at either
 * path failed the create after the whole dump with a bare ENOTDIR (exit 1); it is refused first,
 * naming the variable. A path that does not exist yet is fine: nothing has been ingested or indexed.
 */
async function assertFullSourcesAreDirectories(ctx: Context): Promise<void> {
  const sources: [string, string][] = [['DATA_INGESTED_PATH', ctx.config.dataIngestedPath]];
  if (!ctx.config.qdrant) sources.push(['NFR_INDEX_PATH', ctx.config.indexPath]);
  for (const [name, dir] of sources) {
    const found = await stat(dir).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (found && !found.isDirectory()) throw new NfrError('CONFIG', `${name} ${dir} is not a directory, so a full snapshot cannot copy it; point ${name} at a directory`, { details: { path: dir } });
  }
}

/** The create itself, for callers that already hold the lock (restore's pre-restore backup). */
export async function createSnapshotLocked(ctx: Context, op: Operation, options: CreateOptions): Promise<Manifest & { offsite?: OffsiteCopy }> {
  validateCreateOptions(options);
  const started = new Date();
  // A pre-restore backup dumps another database (ctx.target) on behalf of the live one: ids and
  // their control database belong to the live database.
  // The dump's session is opened while the id is reserved and the lock file names it; dumpInto
  // ends it once the dump is done, and every way out before that ends it here.
  const session = connect(ctx.target, 'nfr snapshot create');
  session.catch(() => {}); // awaited in dumpInto
  const endSession = () => session.then((c) => c.end()).catch(() => {});
  let id: SnapshotId;
  try {
    id = options.id ?? (await reserveSnapshotId(options.databaseName ? { ...ctx, target: withDatabase(ctx.target, options.databaseName) } : ctx, op.maint));
    timing('create: id reserved');
    if (await pathExists(snapshotDir(ctx.store, id))) throw new NfrError('INVALID_INPUT', `snapshot ${id} already exists`);
    await op.lock.update(id);
  } catch (err) {
    await endSession();
    throw err;
  }
  const work = path.join(ctx.store.tmpDir, id);
  // The offsite copy's modules (the catalog, verify, the repository: a third of what a create
  // loads) are needed only after the dump: they load while pg_dump runs, not before it starts.
  let offsiteModule: Promise<typeof import('./offsite/copies.js')> | undefined;
  try {
    throwIfCancelled(ctx, 'before the dump');
    const manifest = await dumpInto(ctx, session, work, id, started, options, () => {
      offsiteModule = import('./offsite/copies.js');
      offsiteModule.catch(() => {}); // awaited below
    });
    await options.beforeCatalog?.();
    // The last safe point: once renamed, the snapshot is listed.
    throwIfCancelled(ctx, 'before the snapshot was put in the catalog');
    const final = snapshotDir(ctx.store, id);
    await rename(work, final);
    await fsyncDir(ctx.store.root);
    timing('create: in the catalog');
    await recordEvent(ctx.store, { operation: 'create', status: 'completed', snapshot_id: id, duration_ms: manifest.duration_ms });
    timing('create: event recorded');
    // Completed from here on, whatever the bucket does: a failed upload leaves it not offsite yet.
    const { copyOffsite } = await (offsiteModule ?? import('./offsite/copies.js'));
    const offsite = await copyOffsite(ctx, manifest, options.onProgress);
    return { ...manifest, offsite };
  } catch (err) {
    await endSession();
    await rm(work, { recursive: true, force: true }).catch(() => {});
    await recordEvent(ctx.store, { operation: 'create', status: 'failed', snapshot_id: id, duration_ms: Date.now() - started.getTime(), error: (err as Error).message }).catch(() => {});
    throw err;
  }
}

/** `dumpStarted` is called once pg_dump runs: work that need not precede it can start then. */
async function dumpInto(ctx: Context, session: Promise<pg.Client>, work: string, id: string, started: Date, options: CreateOptions, dumpStarted: () => void): Promise<Manifest> {
  await ensureDir(work);
  const jobs = options.jobs ?? ctx.config.parallelJobs;
  const progress = options.onProgress ?? (() => {});
  const client = await session;
  timing('create: connected');
  try {
    const { major, version } = await serverMajor(client);
    // pg_dump is looked for (it is asked its version) while the snapshot is exported and the
    // tables are listed: the dump starts as soon as both are done.
    const pgDumpFound = findClientTool('pg_dump', major, ctx.config);
    pgDumpFound.catch(() => {}); // awaited below; a failure before that is the one reported
    const info = await databaseInfo(client, ctx.target.database);
    if (!info) throw new NfrError('NOT_FOUND', `database "${ctx.target.database}" does not exist`);

    await client.query('begin isolation level repeatable read read only');
    const exported = await client.query<{ snapshot: string }>('select pg_export_snapshot() as snapshot');
    const pgSnapshot = exported.rows[0]?.snapshot;
    if (!pgSnapshot) throw new NfrError('DATABASE', 'the server did not export a snapshot');
    const tables = await listTables(client);
    const schema = await schemaVersion(client);
    const stage = await pipelineStage(client);
    // Read in the exporting transaction (the dump's own snapshot) while pg_dump runs: the client
    // queues it before any count, and the dump does not wait for it.
    const historyMark = readHistoryMark(client);
    historyMark.catch(() => {}); // awaited below, before the transaction ends
    progress({ phase: 'dumping', tables_done: 0, tables_total: tables.length, bytes: 0 });
    const pgDump = await pgDumpFound;
    timing('create: snapshot exported, tables listed, pg_dump found');

    const dumpDir = path.join(work, DUMP_DIR);
    const finished = new Set<string>();
    const begun = new Set<string>();
    const tablesDone = () => Math.min(tables.length, Math.max(finished.size, jobs === 1 ? begun.size : 0));
    // Data files are hashed (and, uncompressed, their rows counted) while pg_dump writes them, so
    // checksums and counts cost almost no time, and no second scan of every table competes with
    // pg_dump for the server.
    const countInArchive = ctx.config.compression === 0;
    const checksums = new GrowingFileHasher(work, DUMP_DIR, countInArchive);
    checksums.start();
    // The bytes the hasher has read: no walk of the dump directory competes with pg_dump for it.
    const poll = setInterval(() => progress({ phase: 'dumping', tables_done: tablesDone(), tables_total: tables.length, bytes: checksums.bytesRead() }), 500);
    let counts: TableCount[];
    try {
      const dump = runProgram(
        pgDump,
        [
          '--format=directory',
          `--jobs=${jobs}`,
          `--compress=${ctx.config.compression}`,
          `--snapshot=${pgSnapshot}`,
          `--file=${dumpDir}`,
          // The hasher flushes every file to disk as it reads it (see growing-hasher.ts).
          '--no-sync',
          '--verbose',
          `--dbname=${conninfoDbname(ctx.target.database)}`,
        ],
        {
          env: toolEnv(ctx.target),
          // A cancelled job stops pg_dump at once: the temporary directory is all it wrote.
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          onStderrLine: (line) => {
            const done = /finished item (\d+) TABLE DATA (.+)$/.exec(line);
            if (done?.[1] && done[2]) {
              finished.add(done[2]);
              checksums.itemFinished(done[1]);
              return;
            }
            const start = /dumping contents of table "([^"]+)"/.exec(line);
            if (start?.[1]) begun.add(start[1]);
          },
        },
      );
      timing('create: pg_dump started');
      dumpStarted();
      void dump.then(() => timing('create: pg_dump exited'), () => {});
      if (countInArchive) {
        await dump;
        await checksums.settle();
        const pgRestore = await findClientTool('pg_restore', major, ctx.config);
        counts = await countFromArchive(client, tables, await tableDataItems(pgRestore, dumpDir, tables), checksums.rowCounts());
      } else {
        // Counted in the exporting transaction, alongside pg_dump: same snapshot, same rows; in
        // one process, without parallel workers taking cores from it. At once, while pg_dump
        // reads the catalog (waiting on its queries, it leaves a core idle): counted once its
        // workers copy data instead, the counts took CPU from them, and on the benchmark
        // database (1 GiB, -j2 -Z1) the dump ended 0.3-0.6 s later in alternated runs.
        // Both are awaited before either's failure is thrown, so no pg_dump is left running
        // into a directory its caller removes; pg_dump's own error, when both fail, says more.
        const [dumped, counted] = await Promise.allSettled([dump, countAll(client, tables).finally(() => timing('create: rows counted'))]);
        if (dumped.status === 'rejected') throw dumped.reason;
        if (counted.status === 'rejected') throw counted.reason;
        counts = counted.value;
      }
    } catch (err) {
      await checksums.abandon();
      throw err;
    } finally {
      clearInterval(poll);
    }
    const history = await historyMark;
    await client.query('commit');
    timing('create: committed');

    await faultPoint('dumped', ctx.signal);
    throwIfCancelled(ctx, 'after the dump');
    // Index and ingested files cannot change meanwhile: indexing and ingestion take the same lock.
    const indexInfo = options.full ? await captureFiles(ctx, work) : null;
    const files = await checksums.finish(Math.max(2, jobs));
    timing('create: files hashed and synced');
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    progress({ phase: 'completed', tables_done: tables.length, tables_total: tables.length, bytes: totalBytes });
    const completed = new Date();
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      id,
      name: options.name.trim(),
      description: options.description ?? null,
      tags: [...new Set(options.tags ?? [])],
      status: 'completed',
      kind: options.full ? 'full' : 'postgres',
      schema_version: schema,
      pipeline_stage: stage?.stage ?? null,
      created_at: started.toISOString(),
      completed_at: completed.toISOString(),
      duration_ms: completed.getTime() - started.getTime(),
      database: {
        name: options.databaseName ?? ctx.target.database,
        server_version: version,
        server_major: major,
        pg_dump_version: await programVersion(pgDump),
        schema_version: schema,
        pipeline_stage: stage?.stage ?? null,
        pipeline_counts: stage?.counts ?? null,
        size_bytes: info.sizeBytes,
        encoding: info.encoding,
        collate: info.collate,
        ctype: info.ctype,
      },
      dump: { format: 'directory', path: DUMP_DIR, jobs, compression: ctx.config.compression },
      tables: counts,
      files,
      total_bytes: totalBytes,
      contains: { postgres: true, vector_index: indexInfo !== null, ingested_files: options.full === true },
      index: indexInfo,
      history,
      created_by: { host: hostname(), pid: process.pid, nfr_version: NFR_VERSION },
    };
    timing('create: manifest built');
    await writeManifest(work, manifest);
    timing('create: manifest written');
    return manifest;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Row counts for every table: from the archive where its data file was counted, otherwise with
 * count(*) in the exporting transaction (same snapshot).
 */
async function countFromArchive(
  client: pg.ClientBase,
  tables: readonly TableRef[],
  items: ReadonlyMap<string, string>,
  rows: ReadonlyMap<string, number | null>,
): Promise<TableCount[]> {
  const out: TableCount[] = [];
  for (const t of tables) {
    const dumpId = items.get(qualified(t));
    const counted = dumpId === undefined ? undefined : rows.get(dumpId);
    out.push({ schema: t.schema, name: t.name, rows: typeof counted === 'number' ? counted : await countRows(client, t) });
  }
  return out;
}

/**
 * Dump id of each table's data in the archive, from `pg_restore --list`: lines like
 * `3470; 0 16683 TABLE DATA public src_controls_ver_control owner`. Names are printed unquoted,
 * so a line is only taken when exactly one known table matches it; the others are counted in
 * the database.
 */
async function tableDataItems(pgRestore: string, dumpDir: string, tables: readonly TableRef[]): Promise<Map<string, string>> {
  const { stdout } = await runProgram(pgRestore, ['--list', dumpDir]);
  const found = new Map<string, string | null>();
  for (const line of stdout.split('\n')) {
    const m = /^(\d+); \d+ \d+ TABLE DATA (.+)$/.exec(line);
    if (!m?.[1] || !m[2]) continue;
    const rest = m[2];
    const matches = tables.filter((t) => rest.startsWith(`${t.schema} ${t.name} `) && !rest.slice(t.schema.length + t.name.length + 2).includes(' '));
    if (matches.length !== 1 || !matches[0]) continue;
    const key = qualified(matches[0]);
    found.set(key, found.has(key) ? null : m[1]);
  }
  const out = new Map<string, string>();
  for (const [key, id] of found) if (id !== null) out.set(key, id);
  return out;
}

function qualified(t: TableRef): string {
  return `${t.schema}.${t.name}`;
}

/** count(*) of every table, in the caller's transaction, which it leaves without parallel workers. */
async function countAll(client: pg.ClientBase, tables: readonly { schema: string; name: string }[]): Promise<TableCount[]> {
  await client.query('set local max_parallel_workers_per_gather = 0');
  const out: TableCount[] = [];
  for (const t of tables) out.push({ schema: t.schema, name: t.name, rows: await countRows(client, t) });
  return out;
}

/** The pipeline stage the database is at, if the schema has the table yet. */
export async function pipelineStage(client: pg.ClientBase): Promise<{ stage: string; counts: Record<string, unknown> } | undefined> {
  // Checked with to_regclass rather than by catching 42P01: an error would abort the caller's
  // transaction, and create runs this inside the one that exports the dump's snapshot.
  const exists = await client.query<{ ok: boolean }>("select to_regclass('nfr_pipeline_stage') is not null as ok");
  if (!exists.rows[0]?.ok) return undefined;
  const r = await client.query<{ stage: string; counts: Record<string, unknown> }>('select stage, counts from nfr_pipeline_stage limit 1');
  return r.rows[0];
}
