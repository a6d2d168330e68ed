/**
 * The set-up most test files share: a database of the file's cluster (empty, or seeded), and the
 * environment that points nfr at it with a backup directory and NFR_HOME of its own.
 */
import { testEnv, type Env } from './cli.js';
import type { TestCluster } from './cluster.js';
import { seed } from './data.js';

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  readonly env: Env;
  /** POSTGRES_BACKUP_PATH. */
  readonly backups: string;
}

export type SeededDatabase = TestDatabase;

export interface DatabaseOptions {
  /** Also give it a DATA_INGESTED_PATH of its own. */
  readonly ingested?: boolean;
  /** More variables, overriding the defaults. */
  readonly env?: Env;
}

export interface SeedOptions extends DatabaseOptions {
  /** Controls to seed (default 200; with 0 the schema and the 20 functions only). */
  readonly controls?: number;
}

/** A fresh database named after `prefix`, seeded, with its environment. */
export async function seededDatabase(cluster: TestCluster, prefix: string, options: SeedOptions = {}): Promise<SeededDatabase> {
  const db = await freshDatabase(cluster, prefix, options);
  await seed(db.url, { controls: options.controls ?? 200 });
  return db;
}

/** A fresh empty database named after `prefix` (nfr migrates it on first use), with its environment. */
export async function freshDatabase(cluster: TestCluster, prefix: string, options: DatabaseOptions = {}): Promise<TestDatabase> {
  const db = await cluster.createDatabase(prefix);
  const backups = cluster.tempDir(`${prefix}-backups`);
  const env = testEnv({
    DATABASE_URL: db.url,
    POSTGRES_BACKUP_PATH: backups,
    ...(options.ingested ? { DATA_INGESTED_PATH: cluster.tempDir(`${prefix}-data`) } : {}),
    NFR_HOME: cluster.tempDir(`${prefix}-home`),
    ...options.env,
  });
  return { url: db.url, name: db.name, env, backups };
}
