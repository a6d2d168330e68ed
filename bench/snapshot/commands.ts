/**
 * The operations being compared, each run as a user runs it and timed from spawn to exit:
 * the `nfr` binary as a child process, and raw pg_dump/pg_restore with the same jobs and
 * compression. Credentials travel in the environment (DATABASE_URL, PGPASSWORD), never in argv.
 */
import { fileURLToPath } from 'node:url';
import { toolEnv } from '../../src/postgres/connection.js';
import { runProgram } from '../../src/util/process.js';
import { watchTool, type ToolSpan } from './tool-watch.js';
import type { Workspace } from './workspace.js';

const NFR_BIN = fileURLToPath(new URL('../../../bin/nfr.js', import.meta.url));
/** Generous: a 1 GB restore takes tens of seconds; this only stops a hung run. */
const TIMEOUT_MS = 60 * 60 * 1000;

export interface Timed<T> {
  readonly seconds: number;
  readonly value: T;
  /** Where nfr's time went around its pg_dump/pg_restore (undefined for raw tools or if unseen). */
  readonly span?: ToolSpan | undefined;
}

export interface Tools {
  readonly pgDump: string;
  readonly pgRestore: string;
}

export class Commands {
  constructor(
    private readonly ws: Workspace,
    private readonly tools: Tools,
    private readonly signal: AbortSignal,
  ) {}

  /** `nfr snapshot create --json`; returns the manifest's id and nfr's own duration. */
  async nfrCreate(name: string): Promise<Timed<{ id: string; duration_ms: number; total_bytes: number }>> {
    const { r, span } = await this.watched('pg_dump', () => this.nfr(['snapshot', 'create', '--name', name, '--json']));
    const m = r.value as { id: string; duration_ms: number; total_bytes: number };
    return { seconds: r.seconds, value: { id: m.id, duration_ms: m.duration_ms, total_bytes: m.total_bytes }, span };
  }

  async nfrDelete(id: string): Promise<void> {
    await this.nfr(['snapshot', 'delete', '--id', id, '--yes', '--json']);
  }

  /** `nfr snapshot restore --skip-backup --json`; returns the blocked window nfr reports. */
  async nfrRestore(id: string): Promise<Timed<{ blocked_ms: number; duration_ms: number; sessions_ended: number; restored_from: string }>> {
    const { r, span } = await this.watched('pg_restore', () => this.nfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup', '--json']));
    const out = r.value as { blocked_ms: number; duration_ms: number; sessions_ended: number; restored_from: string };
    return { seconds: r.seconds, value: { blocked_ms: out.blocked_ms, duration_ms: out.duration_ms, sessions_ended: out.sessions_ended, restored_from: out.restored_from }, span };
  }

  async nfrWarm(id: string): Promise<Timed<{ warm: { size_bytes: number } }>> {
    const r = await this.timed(() => this.nfr(['snapshot', 'warm', '--id', id, '--json']));
    return r as Timed<{ warm: { size_bytes: number } }>;
  }

  async nfrCool(id: string): Promise<void> {
    await this.nfr(['snapshot', 'cool', '--id', id, '--json']);
  }

  /** A restore that takes the pre-restore backup (dumped after the swap for a database-only restore). */
  async nfrRestoreWithBackup(id: string): Promise<Timed<{ blocked_ms: number; pre_restore_backup_id: string | null }>> {
    const r = await this.timed(() => this.nfr(['snapshot', 'restore', '--id', id, '--yes', '--json']));
    return r as Timed<{ blocked_ms: number; pre_restore_backup_id: string | null }>;
  }

  async nfrUndo(): Promise<Timed<{ blocked_ms: number; undone: boolean }>> {
    const r = await this.timed(() => this.nfr(['snapshot', 'restore', '--undo', '--yes', '--json']));
    const out = r.value as { blocked_ms: number; undone: boolean };
    return { seconds: r.seconds, value: { blocked_ms: out.blocked_ms, undone: out.undone } };
  }

  /** `nfr index --json` (builds the embedded index under NFR_HOME/index). */
  async nfrIndex(): Promise<Timed<{ points: number }>> {
    const r = await this.timed(() => this.nfr(['index', '--json']));
    return { seconds: r.seconds, value: { points: (r.value as { points: number }).points } };
  }

  /** `nfr snapshot create --full --json`. */
  async nfrCreateFull(name: string): Promise<Timed<{ id: string; total_bytes: number }>> {
    const r = await this.timed(() => this.nfr(['snapshot', 'create', '--name', name, '--full', '--json']));
    const m = r.value as { id: string; total_bytes: number };
    return { seconds: r.seconds, value: { id: m.id, total_bytes: m.total_bytes } };
  }

  /** `nfr snapshot restore --skip-backup --json` of a full snapshot: database, index and files. */
  async nfrRestoreFull(id: string): Promise<Timed<{ blocked_ms: number }>> {
    const r = await this.timed(() => this.nfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup', '--json']));
    return { seconds: r.seconds, value: { blocked_ms: (r.value as { blocked_ms: number }).blocked_ms } };
  }

  /** Raw `cp -a from to`: what copying the index files by hand costs. */
  async rawCopy(from: string, to: string): Promise<Timed<void>> {
    return this.timed(async () => {
      await runProgram('/bin/cp', ['-a', from, to], { signal: this.signal, timeoutMs: TIMEOUT_MS });
    });
  }

  /** Wall time of a command that does nothing but start: node, module loading, config, store. */
  async nfrStartup(): Promise<number> {
    return (await this.timed(() => this.nfr(['snapshot', 'list', '--json']))).seconds;
  }

  /** Raw `pg_dump -Fd -j J -Z Z -f dir db`. */
  async rawDump(dir: string): Promise<Timed<void>> {
    const { jobs, compression } = this.ws.settings;
    const live = this.ws.live;
    return this.timed(async () => {
      await runProgram(this.tools.pgDump, ['--format=directory', `--jobs=${jobs}`, `--compress=${compression}`, '-f', dir, live.database], this.toolOptions());
    });
  }

  /** Raw `pg_restore -Fd -j J -d db dir` into an existing empty database. */
  async rawRestore(dir: string, database: string): Promise<Timed<void>> {
    const { jobs } = this.ws.settings;
    return this.timed(async () => {
      await runProgram(this.tools.pgRestore, ['--format=directory', `--jobs=${jobs}`, '-d', database, dir], this.toolOptions());
    });
  }

  private toolOptions() {
    return { env: toolEnv(this.ws.live), signal: this.signal, timeoutMs: TIMEOUT_MS };
  }

  /** `nfr snapshot restore --skip-backup --json` with more environment (the offsite row: another home, the bucket). */
  async nfrRestoreWith(id: string, env: Record<string, string>): Promise<Timed<{ duration_ms: number }>> {
    return this.timed(async () => (await this.nfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup', '--json'], env)) as { duration_ms: number });
  }

  /** Runs nfr with the benchmark's environment and parses its JSON output. */
  private async nfr(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<unknown> {
    const { stdout } = await runProgram(process.execPath, [NFR_BIN, ...args], {
      env: { ...this.nfrEnv(), ...extraEnv },
      // Not the repository: nfr reads `.env` from its working directory, and a developer's
      // `.env` must not change what is measured.
      cwd: this.ws.root,
      signal: this.signal,
      timeoutMs: TIMEOUT_MS,
    });
    try {
      return JSON.parse(stdout) as unknown;
    } catch {
      throw new Error(`nfr ${args.join(' ')} printed no JSON:\n${stdout.slice(0, 2000)}`);
    }
  }

  /** The environment nfr runs with in this benchmark (for callers that spawn it themselves). */
  nfrEnv(): Record<string, string | undefined> {
    const { jobs, compression, pgBinDir } = this.ws.settings;
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: 'C.UTF-8',
      DATABASE_URL: this.ws.url(),
      POSTGRES_BACKUP_PATH: this.ws.backupsDir,
      NFR_HOME: this.ws.homeDir,
      POSTGRES_BACKUP_PARALLEL_JOBS: String(jobs),
      POSTGRES_BACKUP_COMPRESSION: String(compression),
      NFR_LOCK_WAIT_SECONDS: '0',
      // The warm rows measure the clone restore; bench/snapshot/spare.ts turns spares on for its own.
      NFR_WARM_SPARE: 'false',
      PG_BIN_DIR: pgBinDir,
    };
  }

  private async watched<T>(program: 'pg_dump' | 'pg_restore', fn: () => Promise<T>): Promise<{ r: Timed<T>; span: ToolSpan | undefined }> {
    const watch = watchTool(program);
    try {
      const r = await this.timed(fn);
      return { r, span: watch.stop() };
    } finally {
      watch.stop();
    }
  }

  private async timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
    const t0 = performance.now();
    const value = await fn();
    return { seconds: (performance.now() - t0) / 1000, value };
  }
}
