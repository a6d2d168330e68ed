/**
 * `nfr snapshot create`, in a file of its own: the create loads what it needs (the configuration,
 * the create and its recovery), not the restore, verify and diff machinery of the rest of the
 * snapshot group (main.ts loads this file alone for it), so pg_dump starts sooner.
 */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { openContext } from '../pipeline/context.js';
import { createSnapshot } from '../snapshot/create.js';
import { timing } from '../util/timing.js';
import { cliAuditStarted } from './audit-trail.js';
import { intFlag } from './flags.js';
import { SNAPSHOT_GROUP_DESCRIPTION } from './snapshot-list.js';
import { emit, formatBytes, formatDuration, progressLine } from './output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerSnapshotCreate(snapshot: Command): void {
  snapshot
    .command('create')
    .description('take a consistent snapshot of the live database while it stays online')
    .requiredOption('--name <name>', 'a name for people')
    .option('--description <text>', 'what this snapshot is for')
    .option('--tag <tag>', 'a tag (repeatable): pinned and pre-deployment change retention', collect)
    .option('--jobs <n>', 'parallel pg_dump jobs (default POSTGRES_BACKUP_PARALLEL_JOBS)', intFlag('--jobs', 1, 64))
    .option('--full', 'also capture the vector index and DATA_INGESTED_PATH')
    .option('--warm', 'then keep a ready copy of it on the server, so restoring it is a file copy')
    .option('--json', 'print the manifest as JSON')
    .action(async (opts: { json?: boolean; name: string; description?: string; tag?: string[]; jobs?: number; full?: boolean; warm?: boolean }) => {
      const ctx = await openContext(loadConfig({ jobs: opts.jobs }));
      timing('create: context open');
      const bar = progressLine(opts);
      try {
        // The audit start is recorded while the lock is taken and pg_dump runs (audit-trail.ts).
        const m = await createSnapshot(ctx, { name: opts.name, description: opts.description, tags: opts.tag, jobs: opts.jobs, full: opts.full, warm: opts.warm, onProgress: bar.update, beforeCatalog: cliAuditStarted });
        bar.done();
        emit(opts, { ...m, snapshot_id: m.id, warm: m.warm ?? null }, () =>
          `created ${m.id} "${m.name}": ${m.tables.length} tables, ${m.tables.reduce((s, t) => s + t.rows, 0)} rows, ${formatBytes(m.total_bytes)} in ${formatDuration(m.duration_ms)}${m.warm ? `; warm as ${m.warm.database} (${formatBytes(m.warm.size_bytes)})` : ''}${
            m.offsite?.status === 'completed' ? `; offsite in ${m.offsite.repository}` : m.offsite?.status === 'failed' ? `\nWARNING: ${m.offsite.error}` : ''
          }`,
        );
      } finally {
        bar.done();
      }
    });

}

/** The snapshot group holding only `create`: all that `nfr snapshot create` registers. */
export function registerSnapshotCreateGroup(program: Command): void {
  registerSnapshotCreate(program.command('snapshot').description(SNAPSHOT_GROUP_DESCRIPTION));
}
