/**
 * Step 0, fetch: a snapshot kept only in the offsite repository (a new server, an empty backup
 * directory, a local copy evicted by NFR_LOCAL_KEEP) is downloaded first, every file checked
 * against its manifest and, when encrypted, authenticated chunk by chunk. A missing or wrong key
 * is refused before a byte is downloaded. Only a complete, checked copy is renamed into the
 * backup directory, so every later step sees an ordinary local snapshot and keeps every
 * guarantee; nothing here touches a database.
 */
import type { Context } from '../../runtime/context.js';
import type { Operation } from '../../runtime/operation.js';
import { fetchIfOffsiteOnly } from '../offsite/copies.js';
import type { RestoreOptions } from './preflight.js';

export async function fetchFromBucket(ctx: Context, op: Operation, options: RestoreOptions): Promise<'local' | 'fetched'> {
  return fetchIfOffsiteOnly(ctx, op, options.id, options.onProgress);
}
