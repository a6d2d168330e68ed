/**
 * Deep verification: the checksums, then a real pg_restore of the archive into a scratch
 * database whose row counts must match the manifest. Proves the archive restores, without
 * touching the live database.
 */
import path from 'node:path';
import { NfrError } from '../errors.js';
import { serverMajor, withDatabase } from '../postgres/connection.js';
import { createDatabaseLike, derivedDatabaseName, dropDatabase } from '../postgres/databases.js';
import { findClientTool } from '../postgres/tools.js';
import type { SnapshotId } from './ids.js';
import { withOperation, type Operation } from '../runtime/operation.js';
import { checkRowCounts, restoreArchive } from './restore-archive.js';
import { recordEvent } from './state.js';
import { DUMP_DIR } from './store.js';
import { type Context } from '../runtime/context.js';
import { loadSnapshot, verifyFiles, type VerifyResult } from './verify.js';
import { recordVerification } from './verifications.js';

export async function deepVerify(ctx: Context, id: SnapshotId): Promise<VerifyResult> {
  const result = await withOperation(ctx, 'verify', id, (op) => deepVerifyLocked(ctx, op, id));
  await recordVerification(ctx.store, result, 'deep-verify');
  return result;
}

async function deepVerifyLocked(ctx: Context, op: Operation, id: SnapshotId): Promise<VerifyResult> {
  const { dir, manifest } = await loadSnapshot(ctx.store, id);
  const files = await verifyFiles(dir, manifest, ctx.config.parallelJobs);
  if (!files.ok) return files;
  const { major } = await serverMajor(op.maint);
  if (major !== manifest.database.server_major) {
    return { ...files, ok: false, problems: [`archive is from PostgreSQL ${manifest.database.server_major}; this server is ${major}, so it cannot be test-restored here`] };
  }
  const pgRestore = await findClientTool('pg_restore', major, ctx.config);
  const scratch = derivedDatabaseName(ctx.target.database, 'verify');
  await dropDatabase(op.maint, scratch);
  await createDatabaseLike(op.maint, scratch, manifest.database);
  try {
    const target = withDatabase(ctx.target, scratch);
    await restoreArchive(op.maint, pgRestore, target, path.join(dir, DUMP_DIR), manifest, ctx.config.parallelJobs, () => {});
    const rows = await checkRowCounts(target, manifest, ctx.config.parallelJobs);
    await recordEvent(ctx.store, { operation: 'verify', status: 'completed', snapshot_id: id });
    return { ...files, deep: { tables_checked: manifest.tables.length, rows_checked: rows } };
  } catch (err) {
    if (!(err instanceof NfrError)) throw err;
    return { ...files, ok: false, problems: [err.message] };
  } finally {
    await dropDatabase(op.maint, scratch).catch(() => {});
  }
}
