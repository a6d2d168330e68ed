/**
 * The next spare, off a CLI restore's critical path: the restore has reported and its process
 * exits at once, while a detached `nfr snapshot spare` (no shell, no terminal, not waited for)
 * takes the operation lock like any operation and clones the warm copy. Its crash argument is
 * prepareSpareLocked's: a kill leaves a `sparing` or unrecorded spare database that the next
 * operation (or a server's recovery) drops. First, under the same lock, its recovery drops the
 * database a spare restore replaced (`<db>__nfr_discard`, ../snapshot/discard.ts). When an `nfr
 * serve` of the same live database is alive and makes spares (NFR_WARM_SPARE on there too), the
 * preparer leaves both to the server's spare loop (pipeline/spares.ts); were both to run, the
 * lock would make one of them find the work done. A server with spares off is not counted: it
 * would leave the warm snapshot without its spare.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { controlDatabaseName } from '../jobs/control-db.js';
import { connect, withDatabase } from '../postgres/connection.js';
import type { Context } from '../runtime/context.js';
import { SPARE_LOCK_WAIT_SECONDS } from '../snapshot/spare.js';

const NFR_BIN = fileURLToPath(new URL('../../../bin/nfr.js', import.meta.url));

/** Starts the detached preparer of `id`'s next spare; returns its pid (undefined if it could not start). */
export function prepareSpareInBackground(id: string): number | undefined {
  try {
    const child = spawn(process.execPath, [NFR_BIN, 'snapshot', 'spare', '--id', id, '--lock-wait', String(SPARE_LOCK_WAIT_SECONDS), '--unless-served'], {
      detached: true,
      stdio: 'ignore',
      env: process.env,
    });
    // A failure to start arrives as an event; the restore has succeeded regardless.
    child.on('error', () => {});
    child.unref();
    return child.pid;
  } catch {
    return undefined;
  }
}

/**
 * Whether an `nfr serve` of this live database that makes spares is alive (a fresh heartbeat in
 * its control database, `prepares_spares`): then its spare loop makes the spare, and the
 * detached preparer leaves it to it.
 */
export async function aServerPreparesSpares(ctx: Context): Promise<boolean> {
  const control = withDatabase(ctx.target, controlDatabaseName(ctx));
  let client: pg.Client;
  try {
    client = await connect(control, 'nfr spare check');
  } catch {
    return false; // no control database: no server ever ran here
  }
  try {
    const r = await client.query("select 1 from nfr_server where stale_after > now() and prepares_spares limit 1").catch(() => ({ rowCount: 0 }));
    return (r.rowCount ?? 0) > 0;
  } finally {
    await client.end().catch(() => {});
  }
}
