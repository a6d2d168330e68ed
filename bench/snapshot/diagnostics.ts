/**
 * The pieces of nfr's work that raw pg_dump/pg_restore do not do, timed on their own, so the
 * report can say where the difference goes: checksumming the archive (create writes the
 * checksums, restore verifies them) and counting every table's rows (create counts in the dump's
 * snapshot, restore counts the staging database).
 */
import path from 'node:path';
import { connect, type PgTarget } from '../../src/postgres/connection.js';
import { countRows, listTables } from '../../src/postgres/databases.js';
import { listFiles, mapLimit, sha256File } from '../../src/util/fs.js';

/** Seconds to SHA-256 every file of an archive, with the parallelism nfr uses. */
export async function timeChecksums(dir: string, jobs: number): Promise<number> {
  const t0 = performance.now();
  const files = await listFiles(dir);
  await mapLimit(files, Math.max(2, jobs), (rel) => sha256File(path.join(dir, rel)));
  return (performance.now() - t0) / 1000;
}

/** Seconds to count the rows of every table one after another on one session, as create does. */
export async function timeRowCounts(target: PgTarget): Promise<number> {
  const client = await connect(target, 'nfr bench count');
  try {
    const t0 = performance.now();
    await client.query('begin isolation level repeatable read read only');
    for (const table of await listTables(client)) await countRows(client, table);
    await client.query('commit');
    return (performance.now() - t0) / 1000;
  } finally {
    await client.end().catch(() => {});
  }
}
