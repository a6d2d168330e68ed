/**
 * Which servers are alive, by heartbeat, not by pid: pids repeat across hosts and restarts, a
 * heartbeat in the control database does not. Every server refreshes its row and its running
 * job's every NFR_HEARTBEAT_SECONDS; a running job whose heartbeat is three intervals old belongs
 * to a server that died (killed, its host gone, hung) and is failed as `INTERRUPTED`, with the
 * step it was at, by whichever live server looks first. A restarting server therefore never
 * touches jobs that other live servers are running.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type pg from 'pg';
import type PgBoss from 'pg-boss';
import { NFR_VERSION } from '../version.js';
import { inTransaction } from './control-db.js';
import { failure, JOB_QUEUE, type Job } from './store.js';

/** A heartbeat is missed for this many intervals before its server counts as dead. */
export const MISSED_HEARTBEATS = 3;

export interface ServerIdentity {
  readonly server_id: string;
  /** `host:pid`, what job records show. */
  readonly label: string;
  readonly host: string;
  readonly pid: number;
  /**
   * Where `pid` means something: the kernel's boot id and the pid namespace (Linux; null
   * elsewhere). Two servers with the same pid space see the same processes, so one can tell
   * that the other's pid is gone at once; with different ones (other hosts, containers, even
   * with the same host name) only the heartbeat tells.
   */
  readonly pid_space: string | null;
}

export function newServerIdentity(): ServerIdentity {
  const host = hostname();
  return Object.freeze({ server_id: randomUUID(), host, pid: process.pid, label: `${host}:${process.pid}`, pid_space: pidSpace() });
}

function pidSpace(): string | null {
  try {
    return `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return null;
  }
}

/** Whether a process of this pid space is gone (a pid that exists, or may, counts as alive). */
function processGone(pid: number): boolean {
  if (pid === process.pid) return true; // this process is not the server that had the pid before
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export class Liveness {
  constructor(
    private readonly pool: pg.Pool,
    private readonly boss: PgBoss,
    readonly me: ServerIdentity,
    readonly heartbeatSeconds: number,
    /** Its spare loop runs (NFR_WARM_SPARE on, a recovery interval): a CLI restore leaves the next spare to it. */
    readonly preparesSpares = false,
  ) {}

  /** How old a heartbeat may be before its server counts as dead. */
  get staleSeconds(): number {
    return this.heartbeatSeconds * MISSED_HEARTBEATS;
  }

  /** Records this server (again, if a live one took it for dead and removed it) and its running job. */
  async beat(url: string | null): Promise<void> {
    await this.pool.query(
      `insert into nfr_server (server_id, host, pid, pid_space, url, version, stale_after, prepares_spares) values ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 second', $8)
       on conflict (server_id) do update set heartbeat_at = now(), stale_after = excluded.stale_after, url = coalesce(excluded.url, nfr_server.url)`,
      [this.me.server_id, this.me.host, this.me.pid, this.me.pid_space, url, NFR_VERSION, this.staleSeconds, this.preparesSpares],
    );
    await this.pool.query(`update nfr_job set heartbeat_at = now(), stale_after = now() + $2 * interval '1 second' where server_id = $1 and status = 'running'`, [this.me.server_id, this.staleSeconds]);
  }

  /**
   * Fails every running job whose server is gone — its heartbeat stopped, or, for a server of
   * this pid space, its process no longer exists (a restart on the same machine fails the jobs
   * its killed predecessor left at once) — in the records and in the queue at once, so the next
   * job can start; removes the rows of dead servers. Returns the ids of the jobs it failed.
   */
  async failAbandoned(): Promise<string[]> {
    return inTransaction(this.pool, async (client, db) => {
      const running = await client.query<{ job_id: string; server: string | null; current_step: string | null; heartbeat_at: Date | null; errors: unknown[]; stale: boolean; pid: number | null; pid_space: string | null }>(
        `select j.job_id, j.server, j.current_step, j.heartbeat_at, j.errors, j.stale_after < now() as stale, s.pid, s.pid_space
           from nfr_job j left join nfr_server s on s.server_id = j.server_id
          where j.status = 'running' and j.server_id is distinct from $1
            for update of j skip locked`,
        [this.me.server_id],
      );
      const gone = (row: (typeof running.rows)[number]) => row.stale || (this.me.pid_space !== null && row.pid_space === this.me.pid_space && row.pid !== null && processGone(row.pid));
      const failed: string[] = [];
      for (const row of running.rows.filter(gone)) {
        const since = row.heartbeat_at ? ` (its last heartbeat was at ${row.heartbeat_at.toISOString()})` : '';
        const message = `interrupted: the server ${row.server ?? 'that ran this job'} stopped before the job finished${since}; the job was running at step "${row.current_step ?? 'unknown'}". The next operation cleans up what it left`;
        const { error, errors } = failure('INTERRUPTED', message, Array.isArray(row.errors) && row.errors.length > 0 ? (row.errors as Job['errors']) : []);
        await client.query(`update nfr_job set status = 'failed', finished_at = now(), updated_at = now(), error = $2, errors = $3 where job_id = $1`, [row.job_id, JSON.stringify(error), JSON.stringify(errors)]);
        await this.boss.fail(JOB_QUEUE, row.job_id, { message: 'its server stopped' }, { db });
        failed.push(row.job_id);
      }
      await client.query(`delete from nfr_server where stale_after < now() and server_id <> $1`, [this.me.server_id]);
      return failed;
    });
  }

  /** Other servers whose heartbeat is current. */
  async otherLiveServers(): Promise<number> {
    const r = await this.pool.query<{ n: number }>('select count(*)::int as n from nfr_server where server_id <> $1 and stale_after >= now()', [this.me.server_id]);
    return r.rows[0]?.n ?? 0;
  }

  /** Leaves the table on a graceful shutdown. */
  async remove(): Promise<void> {
    await this.pool.query('delete from nfr_server where server_id = $1', [this.me.server_id]);
  }
}
