/**
 * A real, throwaway PostgreSQL cluster per test file, on the system binaries (as the `postgres`
 * OS user when the tests run as root). Each test gets its own database on it.
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import pg from 'pg';
import { LocalCluster } from '../../src/postgres/cluster.js';

export class TestCluster {
  private counter = 0;
  private constructor(
    readonly cluster: LocalCluster,
    readonly root: string,
  ) {}

  static async start(): Promise<TestCluster> {
    const root = mkdtempSync(path.join(tmpdir(), 'nfr-test-'));
    chmodSync(root, 0o755);
    const cluster = new LocalCluster({ root: path.join(root, 'pg'), settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } });
    await cluster.start();
    return new TestCluster(cluster, root);
  }

  /** A fresh empty database; returns its name and URL. */
  async createDatabase(prefix = 'db'): Promise<{ name: string; url: string }> {
    const name = `${prefix}_${process.pid}_${++this.counter}`;
    await this.admin((c) => c.query(`create database ${pg.escapeIdentifier(name)}`));
    return { name, url: this.url(name) };
  }

  url(database: string): string {
    const t = this.cluster.target(database);
    return `postgresql://${t.user}:${encodeURIComponent(t.password ?? '')}@${t.host}:${t.port}/${database}`;
  }

  /** A directory for backups and other files of one test. */
  tempDir(name: string): string {
    const dir = mkdtempSync(path.join(this.root, `${name}-`));
    return dir;
  }

  async admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    return this.connect('postgres', fn);
  }

  async connect<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.url(database) });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  }

  async databases(): Promise<string[]> {
    return this.admin(async (c) => (await c.query<{ datname: string }>('select datname from pg_database order by 1')).rows.map((r) => r.datname));
  }

  async stop(): Promise<void> {
    await this.cluster.stop().catch(() => {});
    rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * The one cluster of a test file: started before its first test, stopped after its last. Use the
 * returned handle like a TestCluster (`cluster.createDatabase()`); it forwards to the running one.
 * What the file sets up on it goes in `setUp`, run once it has started: a file's top-level before()
 * hooks start together, so one of its own would not wait for the cluster. `setUp` may return what
 * undoes it (e.g. stopping a server on the cluster), run before the cluster stops.
 */
export function fileCluster(setUp?: () => Promise<void | (() => Promise<void>)>): TestCluster {
  let running: TestCluster | undefined;
  let tearDown: (() => Promise<void>) | undefined;
  before(async () => {
    running = await TestCluster.start();
    tearDown = (await setUp?.()) || undefined;
  });
  after(async () => {
    try {
      await tearDown?.();
    } finally {
      await running?.stop();
    }
  });
  return new Proxy({} as TestCluster, {
    get(_target, name) {
      if (!running) throw new Error('the test cluster starts in before(): use it inside tests and hooks');
      const value = Reflect.get(running, name, running) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(running) : value;
    },
  });
}
