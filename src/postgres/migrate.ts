/**
 * Schema migrations, run by node-pg-migrate from the numbered SQL files in `migrations/`.
 * The schema version is the name of the newest applied migration; snapshots record it and
 * restores compare it with the code's head.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { connect, type PgTarget } from './connection.js';

export const MIGRATIONS_TABLE = 'nfr_migrations';
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations', import.meta.url));

/** Names of the migrations this code ships, oldest first (file names without extension). */
export function codeMigrations(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
    .map((f) => f.replace(/\.sql$/, ''));
}

/** The newest migration this code knows: the schema version a migrated database has. */
export function codeSchemaHead(): string {
  const all = codeMigrations();
  const head = all[all.length - 1];
  if (head === undefined) throw new NfrError('INTERNAL', `no migrations found in ${MIGRATIONS_DIR}`);
  return head;
}

/** Applied migrations of a database, oldest first; empty if it was never migrated. */
export async function appliedMigrations(client: pg.ClientBase): Promise<string[]> {
  // to_regclass, not a caught 42P01: an error would abort a transaction the caller may be in.
  const exists = await client.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [MIGRATIONS_TABLE]);
  if (!exists.rows[0]?.ok) return [];
  const r = await client.query<{ name: string }>(`select name from ${MIGRATIONS_TABLE} order by run_on, id`);
  return r.rows.map((row) => row.name);
}

/** The schema version of a database (null if never migrated). */
export async function schemaVersion(client: pg.ClientBase): Promise<string | null> {
  const applied = await appliedMigrations(client);
  return applied[applied.length - 1] ?? null;
}

export interface MigrationStatus {
  readonly schemaVersion: string | null;
  readonly codeHead: string;
  readonly applied: readonly string[];
  readonly pending: readonly string[];
  /** Applied migrations this code does not know: the database is newer than the code. */
  readonly unknown: readonly string[];
}

export async function migrationStatus(client: pg.ClientBase): Promise<MigrationStatus> {
  const applied = await appliedMigrations(client);
  const code = codeMigrations();
  const appliedSet = new Set(applied);
  const codeSet = new Set(code);
  return {
    schemaVersion: applied[applied.length - 1] ?? null,
    codeHead: codeSchemaHead(),
    applied,
    pending: code.filter((m) => !appliedSet.has(m)),
    unknown: applied.filter((m) => !codeSet.has(m)),
  };
}

/**
 * Makes sure a command can use the data model of `client`'s database (`target`). A database nfr
 * never touched — no migrations applied and no table in its `public` schema, as the embedded
 * default or a new DATABASE_URL database starts — is migrated to head at once, so the first
 * command just works. Anything else must be at head already: a database behind it is an error
 * naming `nfr db migrate` (upgrading a schema is an operator's decision, taken before a snapshot),
 * one ahead of it names an nfr upgrade, and a non-empty one nfr never migrated is left alone.
 * `readOnly` commands (dry runs, checks) never migrate. Returns the migrations it applied.
 */
export async function prepareSchema(client: pg.ClientBase, target: PgTarget, options: { readonly readOnly?: boolean } = {}): Promise<string[]> {
  const s = await migrationStatus(client);
  const where = `database "${target.database}"`;
  if (s.unknown.length > 0) throw new NfrError('SCHEMA_MISMATCH', `${where} has migrations this version of nfr does not know (${s.unknown.join(', ')}); upgrade nfr`);
  if (s.pending.length === 0) return [];
  if (s.applied.length === 0) {
    const tables = await client.query<{ n: number }>("select count(*)::int as n from pg_tables where schemaname = 'public'");
    const empty = (tables.rows[0]?.n ?? 0) === 0;
    // A dry run or a check writes nothing, not even a schema.
    if (empty && options.readOnly) throw new NfrError('SCHEMA_MISMATCH', `${where} has no nfr schema yet, and this command writes nothing; a real run (or \`nfr db migrate\`) creates it`);
    if (empty) return migrateToHead(target);
    throw new NfrError('SCHEMA_MISMATCH', `${where} has tables but no nfr schema; run \`nfr db migrate\` to add it, or point DATABASE_URL at nfr's database`);
  }
  throw new NfrError('SCHEMA_MISMATCH', `${where} is at schema version ${s.schemaVersion} but nfr needs ${s.codeHead}; run \`nfr db migrate\` first`);
}

/**
 * Migrates a database to the code's head. Concurrent runs are serialised by node-pg-migrate's
 * advisory lock (waiting, not failing). Returns the migrations it applied.
 */
export async function migrateToHead(target: PgTarget): Promise<string[]> {
  const client = await connect(target, 'nfr migrate');
  try {
    const status = await migrationStatus(client);
    if (status.unknown.length > 0) {
      throw new NfrError(
        'SCHEMA_MISMATCH',
        `database "${target.database}" has migrations this version of nfr does not know (${status.unknown.join(', ')}); upgrade nfr instead of migrating`,
      );
    }
    return await runMigrations(client, MIGRATIONS_DIR, MIGRATIONS_TABLE);
  } catch (err) {
    if (err instanceof NfrError) throw err;
    throw new NfrError('DATABASE', `migration of "${target.database}" failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Applies the pending migrations of `dir` on `client`'s database, recorded in `table`, in one
 * transaction. Concurrent runs wait for each other (node-pg-migrate's advisory lock), so two
 * servers starting at once migrate once. Returns the names it applied.
 */
export async function runMigrations(client: pg.ClientBase, dir: string, table: string): Promise<string[]> {
  // Loaded here, not at the top: every command reads the schema version, few migrate, and the
  // library costs ~0.1 s to load (a snapshot create's whole start-up is ~0.3 s).
  const { runner } = await import('node-pg-migrate');
  const ran = await runner({
    dbClient: client,
    dir,
    direction: 'up',
    migrationsTable: table,
    checkOrder: true,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    log: () => {},
    logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  return ran.map((m) => m.name);
}
