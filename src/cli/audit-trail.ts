/**
 * The audit trail of the command line: each command that changes state is recorded (as `cli` and
 * the OS user) in the control database before it runs, and its outcome after. The commands and
 * what each records are one table here; main.ts calls `startCliAudit` before a command's action
 * and `endCliAudit` with its outcome. When the control database cannot be reached the command
 * still runs (it needs the same server, and says so itself), with a warning that it is unrecorded.
 *
 * A command in RECORDED_ALONGSIDE records its start while its first steps run, and waits for it
 * (cliAuditStarted) before its first change anyone can see.
 */
import type { Command } from 'commander';
import type pg from 'pg';
import { toNfrError } from '../errors.js';
import { isSnapshotId } from '../snapshot/ids.js';
import { timing } from '../util/timing.js';

type Opts = Record<string, unknown>;

interface CliAction {
  readonly action: string;
  readonly target?: string | null;
  readonly params?: Record<string, unknown>;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * A command given a malformed snapshot id refuses it before touching anything: nothing to record
 * (and the trail must not touch the disk or the database for it either).
 */
const withId = (o: Opts, action: CliAction): CliAction | undefined => (typeof o.id === 'string' && isSnapshotId(o.id) ? action : undefined);

/**
 * Audited commands by path (`snapshot create`), answering what to record for these options, or
 * undefined when this use changes nothing (a dry run, a check). Add a command here.
 */
export const AUDITED_COMMANDS: Readonly<Record<string, (opts: Opts, args: readonly unknown[]) => CliAction | undefined>> = {
  'snapshot create': (o) => ({ action: 'snapshot.create', params: { name: o.name, description: o.description, tags: o.tag, full: o.full === true, warm: o.warm === true } }),
  'snapshot restore': (o) =>
    o.undo ? { action: 'snapshot.undo' } : withId(o, { action: 'snapshot.restore', target: str(o.id), params: { skip_backup: o.skipBackup === true, force: o.force === true, resync: o.resync === true } }),
  'snapshot delete': (o) => withId(o, { action: 'snapshot.delete', target: str(o.id) }),
  'snapshot verify': (o) => withId(o, { action: 'snapshot.verify', target: str(o.id), params: { deep: o.deep === true } }),
  'snapshot warm': (o) => withId(o, { action: 'snapshot.warm', target: str(o.id) }),
  'snapshot cool': (o) => withId(o, { action: 'snapshot.cool', target: str(o.id) }),
  'snapshot push': (o) => withId(o, { action: 'snapshot.push', target: str(o.id) }),
  'snapshot prune': (o) => (o.dryRun ? undefined : { action: 'snapshot.prune' }),
  'snapshot recover': (o) => ({ action: 'snapshot.recover', target: str(o.id) }),
  'ingest controls': (o, args) =>
    o.dryRun ? undefined : { action: 'ingest.controls', params: { file: str(args[0]), skip_invalid: o.skipInvalid === true, close_missing: o.closeMissing === true, enrich: o.enrich !== false } },
  'ingest context': (o) => (o.dryRun ? undefined : { action: 'ingest.context', params: { path: o.path, skip_invalid: o.skipInvalid === true, allow_empty: o.allowEmpty === true } }),
  index: (o) => (o.check ? undefined : { action: 'index.sync', params: { force: o.force === true } }),
  'pipeline run': (o) => ({ action: 'pipeline.run', params: { context: o.context, controls: o.controls, snapshots: o.snapshots === true, sample: o.sample === true } }),
  'job cancel': (_o, args) => ({ action: 'job.cancel', target: str(args[0]) }),
  'db migrate': () => ({ action: 'db.migrate' }),
  'schedule add': (o) => ({ action: 'schedule.add', target: str(o.name), params: { cron: o.cron, tz: o.tz, full: o.full === true, warm: o.warm === true, tags: o.tag, prune: o.prune === true } }),
  'schedule remove': (o) => ({ action: 'schedule.remove', target: str(o.name) }),
  'schedule pause': (o) => ({ action: 'schedule.pause', target: str(o.name) }),
  'schedule resume': (o) => ({ action: 'schedule.resume', target: str(o.name) }),
};

interface Open {
  readonly auditId: string;
  readonly control: import('../postgres/connection.js').PgTarget;
  /** The session that recorded the start, kept for the outcome (one connection less per command). */
  readonly client: pg.Client;
}

let open: Open | undefined;

/**
 * Commands whose start is recorded alongside their first steps rather than before them, because
 * those steps are on the clock and change nothing anyone sees. `snapshot create`: the lock,
 * recovery of what a dead operation left (which every server also runs on its own), the id, the
 * dump into `.tmp`; the snapshot appears only when it is renamed into the catalog, and the create
 * waits for its start to be recorded before that (createSnapshot's beforeCatalog). A create killed
 * before then leaves no snapshot, whether or not its start was recorded. The record takes a
 * session, two checks and an insert: 20-60 ms that pg_dump no longer waits for.
 */
export const RECORDED_ALONGSIDE: ReadonlySet<string> = new Set(['snapshot create']);

/** The start being recorded alongside the command (startCliAuditAlongside). */
let starting: Promise<void> | undefined;

/**
 * Checks what the record needs, as startCliAudit does (a configuration error stops the command
 * here, before it runs), then starts recording and returns; cliAuditStarted() waits for it.
 */
export async function startCliAuditAlongside(command: Command, path: string): Promise<void> {
  const record = await prepareCliAudit(command, path);
  if (!record) return;
  starting = record().then(() => timing('cli: audit start recorded'));
  starting.catch(() => {}); // awaited by cliAuditStarted and endCliAudit
}

/**
 * Resolves once the start recorded alongside is in the trail (or could not be, with its warning),
 * at once when there is none.
 */
export function cliAuditStarted(): Promise<void> {
  return starting ?? Promise.resolve();
}

/** Records the start of `command` if it is audited (warning on stderr when it cannot). */
export async function startCliAudit(command: Command, path: string): Promise<void> {
  await (await prepareCliAudit(command, path))?.();
}

/**
 * The checks before a start is recorded (the configuration, the server, which control database),
 * throwing a configuration error as the command would; returns the recording itself, or
 * undefined when there is nothing to record (or it cannot be, with the warning written).
 */
async function prepareCliAudit(command: Command, path: string): Promise<(() => Promise<void>) | undefined> {
  const describe = AUDITED_COMMANDS[path];
  const what = describe?.(command.opts(), command.processedArgs);
  if (!what) return undefined;
  const [{ loadConfig }, { resolveTarget, withDatabase }, { connectControlDatabase, controlDatabaseTarget }, { auditStart, cliActor }] = await Promise.all([
    import('../config.js'),
    import('../postgres/connection.js'),
    import('../jobs/control-db.js'),
    import('../jobs/audit.js'),
  ]);
  const unrecorded = (err: unknown) => {
    const e = toNfrError(err);
    if (e.code === 'CONFIG') throw e;
    // The database server does not answer (the command will say so itself) or refuses the control
    // database: the command goes ahead, and the operator is told it is not in the trail.
    process.stderr.write(`nfr: warning: ${what.action} is not recorded in the audit trail: ${e.message}\n`);
  };
  let ctx: Parameters<typeof connectControlDatabase>[0];
  let control: import('../postgres/connection.js').PgTarget;
  try {
    // Only the database server: the snapshot store's directories are the command's to create.
    const config = loadConfig();
    const target = await resolveTarget(config);
    ctx = { config, target, maintenance: withDatabase(target, config.maintenanceDb) };
    control = controlDatabaseTarget(ctx);
  } catch (err) {
    unrecorded(err);
    return undefined;
  }
  return async () => {
    try {
      // The session that finds the control database at head records the start.
      const client = await connectControlDatabase(ctx, 'nfr audit');
      try {
        const auditId = await auditStart(client, { actor: cliActor(), action: what.action, target: what.target ?? null, params: what.params ?? {} });
        open = { auditId, control, client };
      } catch (err) {
        await client.end().catch(() => {});
        throw err;
      }
    } catch (err) {
      unrecorded(err);
    }
  };
}

/** Records how the audited command that started ended (nothing when none did). Never throws. */
export async function endCliAudit(err?: unknown): Promise<void> {
  await starting?.catch(() => {});
  const started = open;
  open = undefined;
  if (!started) return;
  const { auditEnd } = await import('../jobs/audit.js');
  const outcome = err === undefined ? ({ status: 'succeeded' } as const) : ({ status: 'failed', errorCode: toNfrError(err).code } as const);
  // On the session that recorded the start; a new one if that went away meanwhile (a long command, a server restart).
  const ended = await auditEnd(started.client, started.auditId, outcome).then(
    () => true,
    () => false,
  );
  await started.client.end().catch(() => {});
  if (ended) return;
  await withControl(started.control, (client) => auditEnd(client, started.auditId, outcome)).catch((e: unknown) =>
    process.stderr.write(`nfr: could not record the outcome in the audit trail: ${toNfrError(e).message}\n`),
  );
}

async function withControl<T>(control: import('../postgres/connection.js').PgTarget, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const { connect } = await import('../postgres/connection.js');
  const client = await connect(control, 'nfr audit');
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}
