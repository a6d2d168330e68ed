/**
 * Loading an archive into an empty database with `pg_restore -j` (reporting tables and bytes as
 * it goes) and checking that every table's row count matches the manifest. Used by restore, warm
 * and deep verify.
 */
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { conninfoDbname, connect, toolEnv, type PgTarget } from '../postgres/connection.js';
import { countRows } from '../postgres/databases.js';
import { mapLimit } from '../util/fs.js';
import { faultPoint } from '../util/fault.js';
import { runProgram } from '../util/process.js';
import type { Manifest } from './manifest.js';
import type { ProgressListener } from '../runtime/operation.js';

/** pg_restore -j into an empty database, reporting tables done. */
export async function restoreArchive(
  maint: pg.ClientBase,
  pgRestore: string,
  target: PgTarget,
  archive: string,
  manifest: Manifest,
  jobs: number,
  progress: ProgressListener,
  signal?: AbortSignal,
): Promise<void> {
  const superuser = await maint.query<{ rolsuper: boolean }>('select rolsuper from pg_roles where rolname = current_user');
  // Without superuser, ownership and grants of the original roles cannot be reproduced; objects
  // then belong to the restoring role, which is what a non-superuser owner had anyway.
  const ownership = superuser.rows[0]?.rolsuper ? [] : ['--no-owner', '--no-privileges'];
  const total = manifest.tables.length;
  const done = new Set<string>();
  let bytes = 0;
  const report = () => progress({ phase: 'restoring', tables_done: Math.min(done.size, total), tables_total: total, bytes });
  report();
  await faultPoint('restoring');
  // Bytes restored so far, from the target's size, on a session of its own: the caller's
  // maintenance session may be asked for something else meanwhile, and a pg client runs one
  // query at a time. A poll still running is not overlapped by the next.
  const sizer = await connect(target, 'nfr restore progress');
  sizer.on('error', () => {});
  let polling = false;
  const poll = setInterval(() => {
    if (polling) return;
    polling = true;
    sizer
      .query<{ size: string }>('select pg_database_size(current_database())::text as size')
      .then(
        (r) => {
          bytes = Number(r.rows[0]?.size ?? bytes);
          report();
        },
        () => {},
      )
      .finally(() => (polling = false));
  }, 500);
  try {
    await runProgram(
      pgRestore,
      ['--format=directory', `--jobs=${jobs}`, '--exit-on-error', '--verbose', ...ownership, `--dbname=${conninfoDbname(target.database)}`, archive],
      {
        env: toolEnv(target),
        signal,
        onStderrLine: (line) => {
          const m = /finished item \d+ TABLE DATA (.+)$|processing data for table "([^"]+)"/.exec(line);
          const table = m?.[1] ?? m?.[2];
          if (table && !done.has(table)) {
            done.add(table);
            report();
          }
        },
      },
    );
  } finally {
    clearInterval(poll);
    await sizer.end().catch(() => {});
  }
}

/** Every table's row count must equal the manifest's; returns the total rows. */
export async function checkRowCounts(target: PgTarget, manifest: Manifest, jobs: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, manifest.tables.length)) }, () => connect(target, 'nfr restore check')));
  try {
    const free = [...clients];
    const mismatches: string[] = [];
    const counts = await mapLimit(manifest.tables, clients.length, async (table) => {
      const client = free.pop() as pg.Client;
      try {
        const rows = await countRows(client, table);
        if (rows !== table.rows) mismatches.push(`${table.schema}.${table.name}: ${rows} rows restored, manifest says ${table.rows}`);
        return rows;
      } finally {
        free.push(client);
      }
    });
    if (mismatches.length > 0) {
      throw new NfrError('VERIFY_FAILED', `restored data does not match snapshot ${manifest.id}; the live database was not touched:\n  ${mismatches.join('\n  ')}`);
    }
    return counts.reduce((a, b) => a + b, 0);
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}
