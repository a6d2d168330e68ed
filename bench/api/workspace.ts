/**
 * Everything one API benchmark run owns: a temporary directory with a private PostgreSQL cluster,
 * the live database, the nfr home and snapshot store, and the environment every `nfr` child gets.
 * `dispose()` stops the cluster and removes the directory whatever state the run ended in.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from '../../src/postgres/cluster.js';

export const NFR_BIN = fileURLToPath(new URL('../../../bin/nfr.js', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LIVE_DATABASE = 'bench_api';

/**
 * Durability stays on, as in the other benchmarks: a restore under load should be measured as
 * users would run it. Memory is modest because the data set is small (tens of MiB).
 */
const SERVER_SETTINGS = { shared_buffers: '256MB', max_wal_size: '2GB', checkpoint_timeout: '30min' } as const;

export type Env = Record<string, string | undefined>;

export interface NfrOutput {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class Workspace {
  private constructor(
    readonly root: string,
    readonly cluster: LocalCluster,
  ) {}

  /** Makes the directory and starts the cluster with an empty live database. */
  static async open(parentDir: string, pgBinDir: string | undefined): Promise<Workspace> {
    const root = mkdtempSync(path.join(parentDir, 'nfr-bench-api-'));
    // As root the server runs as the `postgres` OS user, which must be able to enter the tree.
    chmodSync(root, 0o755);
    const ws = new Workspace(root, new LocalCluster({ root: path.join(root, 'pg'), pgBinDir, settings: SERVER_SETTINGS }));
    try {
      for (const dir of [ws.backupsDir, ws.homeDir, ws.sampleDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
      await ws.cluster.start();
      await ws.cluster.ensureDatabase(LIVE_DATABASE);
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

  get sampleDir(): string {
    return path.join(this.root, 'sample');
  }

  /** The environment of every nfr child: this run's database and directories, nothing inherited by accident. */
  env(extra: Env = {}): Env {
    const t = this.cluster.target(LIVE_DATABASE);
    const url = `postgresql://${encodeURIComponent(t.user)}:${encodeURIComponent(t.password ?? '')}@${t.host}:${t.port}/${encodeURIComponent(LIVE_DATABASE)}`;
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: 'C.UTF-8',
      PG_BIN_DIR: process.env.PG_BIN_DIR,
      DATABASE_URL: url,
      POSTGRES_BACKUP_PATH: this.backupsDir,
      NFR_HOME: this.homeDir,
      NFR_LOCK_WAIT_SECONDS: '0',
      ...extra,
    };
  }

  /** Runs `nfr <args>` to completion (no shell); throws with its stderr when it fails. */
  nfr(args: readonly string[], extra: Env = {}): Promise<NfrOutput> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [NFR_BIN, ...args], { env: this.env(extra) as NodeJS.ProcessEnv, cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        const out = { code: code ?? 128, stdout, stderr };
        if (code === 0) resolve(out);
        else reject(new Error(`nfr ${args.join(' ')} exited ${code ?? signal}: ${stderr.trim() || stdout.trim()}`));
      });
    });
  }

  /** Runs `nfr <args> --json` and parses its stdout. */
  async nfrJson<T>(args: readonly string[]): Promise<T> {
    const out = await this.nfr([...args, '--json']);
    try {
      return JSON.parse(out.stdout) as T;
    } catch {
      throw new Error(`nfr ${args.join(' ')} printed no JSON: ${out.stdout.slice(0, 500)}`);
    }
  }

  /** Stops the cluster and removes the whole directory; never throws. */
  async dispose(): Promise<void> {
    await this.cluster.stop().catch((err: unknown) => process.stderr.write(`bench: could not stop the cluster: ${(err as Error).message}\n`));
    rmSync(this.root, { recursive: true, force: true });
  }
}
