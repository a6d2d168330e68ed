/**
 * `nfr snapshot list`, in a file of its own: the command that scripts and operators run most
 * often loads only what listing needs (the configuration, the catalog and the output helpers),
 * not the create, restore and verify machinery of the rest of the snapshot group (main.ts loads
 * this file alone for it).
 */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { snapshotStore } from '../runtime/context.js';
import { catalogSummaries } from '../snapshot/catalog.js';
import { emit, formatBytes, table } from './output.js';

export const SNAPSHOT_GROUP_DESCRIPTION = 'take, list, verify, restore and prune PostgreSQL snapshots';

export function registerSnapshotList(snapshot: Command): void {
  snapshot
    .command('list')
    .description('list snapshots, oldest first')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const store = snapshotStore(config.backupPath);
      const { snapshots, damaged, offsite } = await catalogSummaries(store, config);
      emit(opts, { snapshots, damaged, offsite }, (r) => {
        const warning = r.offsite.error ? `\nWARNING: the offsite repository could not be read, so LOCATION shows only what is on local disk: ${r.offsite.error}` : '';
        if (r.snapshots.length === 0 && r.damaged.length === 0) return `no snapshots in ${store.root}${r.offsite.repository === 'none' ? '' : ` or ${r.offsite.repository}`}${warning}`;
        const rows = r.snapshots.map((s) => [s.id, s.name, s.created_at.replace('T', ' ').slice(0, 19), s.tags.join(','), s.pipeline_stage ?? '-', formatBytes(s.total_bytes), s.location, s.warm ? formatBytes(s.warm.size_bytes) : '-']);
        const text = table(['ID', 'NAME', 'CREATED (UTC)', 'TAGS', 'STAGE', 'SIZE', 'LOCATION', 'WARM'], rows) + warning;
        return r.damaged.length ? `${text}\n\ndamaged:\n${r.damaged.map((d) => `  ${d.id}: ${d.problem}`).join('\n')}` : text;
      });
    });
}

/** The snapshot group holding only `list`: all that `nfr snapshot list` registers. */
export function registerSnapshotListGroup(program: Command): void {
  registerSnapshotList(program.command('snapshot').description(SNAPSHOT_GROUP_DESCRIPTION));
}
