/**
 * Everything one benchmark run owns: a temporary directory, a private PostgreSQL cluster in it,
 * the snapshot store and nfr home, and the raw dumps. `dispose()` stops the cluster and removes
 * the directory, whatever state the run ended in.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { clientConfig, escapeIdentifier, serverMajor, withDatabase, type PgTarget } from '../../src/postgres/connection.js';
import { findClientTool } from '../../src/postgres/tools.js';
import type { Tools } from './commands.js';
import { LocalCluster } from '../../src/postgres/cluster.js';
import type { BenchSettings } from './settings.js';

export const LIVE_DATABASE = 'bench';

/**
 * A benchmark of real behaviour keeps durability on (fsync, synchronous_commit, full page writes
 * stay at their defaults). Memory is raised to what a server holding a database this size would
 * have, and checkpoints are spaced out so the timed operations start from a checkpoint we take
 * ourselves rather than from one the server happens to start mid-measurement.
 */
const SERVER_SETTINGS = {
  shared_buffers: '1GB',
  maintenance_work_mem: '512MB',
  work_mem: '32MB',
  max_wal_size: '8GB',
  checkpoint_timeout: '30min',
  log_checkpoints: 'on',
} as const;

export class Workspace {
  private constructor(
    readonly root: string,
    readonly cluster: LocalCluster,
    readonly settings: BenchSettings,
  ) {}

  /** Makes the directory and starts the cluster; removes the directory again if that fails. */
  static async open(settings: BenchSettings): Promise<Workspace> {
    const root = mkdtempSync(path.join(settings.parentDir, 'nfr-bench-'));
    // As root the server runs as the `postgres` OS user, which must be able to enter the tree.
    chmodSync(root, 0o755);
    const cluster = new LocalCluster({ root: path.join(root, 'pg'), pgBinDir: settings.pgBinDir, settings: SERVER_SETTINGS });
    const ws = new Workspace(root, cluster, settings);
    try {
      for (const dir of [ws.backupsDir, ws.homeDir, ws.rawDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
      await cluster.start();
      await cluster.ensureDatabase(LIVE_DATABASE);
    } catch (err) {
      await ws.dispose();
      throw err;
    }
    return ws;
  }

  get backupsDir(): string {
    return path.join(this.root, 'backups');
  }

  get homeDir(): string {
    return path.join(this.root, 'home');
  }

  get rawDir(): string {
    return path.join(this.root, 'raw');
  }

  /** The live database nfr snapshots and restores over. */
  get live(): PgTarget {
    return this.cluster.target(LIVE_DATABASE);
  }

  target(database: string): PgTarget {
    return withDatabase(this.live, database);
  }

  /** postgresql:// URL of a database, for DATABASE_URL (environment only, never argv). */
  url(database = LIVE_DATABASE): string {
    const t = this.target(database);
    return `postgresql://${encodeURIComponent(t.user)}:${encodeURIComponent(t.password ?? '')}@${t.host}:${t.port}/${encodeURIComponent(database)}`;
  }

  /** The server's version, and the pg_dump and pg_restore of its major (as nfr finds them). */
  async clientTools(): Promise<{ readonly major: number; readonly version: string; readonly tools: Tools }> {
    const { major, version } = await this.session((c) => serverMajor(c));
    const where = { pgBinDir: this.settings.pgBinDir, home: this.homeDir };
    return { major, version, tools: { pgDump: await findClientTool('pg_dump', major, where), pgRestore: await findClientTool('pg_restore', major, where) } };
  }

  /** Runs fn on a fresh session of a database (the maintenance database by default). */
  async session<T>(fn: (client: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
    const client = new pg.Client(clientConfig(this.target(database), 'nfr bench'));
    client.on('error', () => {});
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  }

  /**
   * Flushes dirty buffers before a timed operation, so no operation pays for the writes of the
   * one before it.
   */
  async checkpoint(): Promise<void> {
    await this.session((c) => c.query('checkpoint'));
  }

  async createEmptyDatabase(name: string): Promise<void> {
    await this.session((c) => c.query(`create database ${escapeIdentifier(name)} template template0`));
  }

  async dropDatabase(name: string): Promise<void> {
    await this.session((c) => c.query(`drop database if exists ${escapeIdentifier(name)} with (force)`));
  }

  async databaseSize(name = LIVE_DATABASE): Promise<number> {
    return this.session(async (c) => Number((await c.query<{ n: string }>('select pg_database_size($1)::text as n', [name])).rows[0]?.n));
  }

  /** Stops the cluster and removes the whole directory; never throws. */
  async dispose(): Promise<void> {
    await this.cluster.stop().catch((err: unknown) => console.error(`bench: could not stop the cluster: ${(err as Error).message}`));
    rmSync(this.root, { recursive: true, force: true });
  }
}
