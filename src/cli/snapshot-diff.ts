/** `nfr snapshot diff`: what restoring a snapshot would change, printed for people or as JSON. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { NfrError } from '../errors.js';
import { openContext } from '../pipeline/context.js';
import { DIFF_CHANGES, DIFF_ENTITIES, DIFF_LIMIT_MAX, diffSnapshot, type DiffChange, type DiffEntity, type DiffMethod, type SnapshotDiff } from '../snapshot/diff/index.js';
import { parseSnapshotId, type SnapshotId } from '../snapshot/ids.js';
import { intFlag } from './flags.js';
import { emit, progressLine, table } from './output.js';

const METHODS: readonly DiffMethod[] = ['history', 'warm', 'scratch'];

function oneOf<T extends string>(flag: string, allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) throw new NfrError('USAGE', `invalid ${flag} ${JSON.stringify(value)}: expected one of ${allowed.join(', ')}`);
    return value as T;
  };
}

export function registerSnapshotDiff(snapshot: Command): void {
  snapshot
    .command('diff')
    .description('what restoring a snapshot would change: schema, every table’s rows, and the controls and context entities it removes, brings back and reverts')
    .requiredOption('--id <id>', 'the snapshot a restore would bring back (SNAP-YYYY-NNNN)')
    .option('--to <target>', 'what it would replace: live (the default) or another snapshot id', 'live')
    .option('--limit <n>', `ids per page (default 100, at most ${DIFF_LIMIT_MAX})`, intFlag('--limit', 1, DIFF_LIMIT_MAX))
    .option('--cursor <cursor>', 'the next_cursor of a previous page')
    .option('--entity <entity>', `list only one entity: ${DIFF_ENTITIES.map((e) => e.entity).join(', ')}`, oneOf('--entity', DIFF_ENTITIES.map((e) => e.entity)))
    .option('--change <change>', `list only one kind of change: ${DIFF_CHANGES.join(', ')}`, oneOf('--change', DIFF_CHANGES))
    .option('--method <method>', 'compute it this way instead of the cheapest that applies: history, warm, scratch', oneOf('--method', METHODS))
    .option('--json', 'print JSON')
    .action(async (opts: { id: string; to: string; limit?: number; cursor?: string; entity?: DiffEntity; change?: DiffChange; method?: DiffMethod; json?: boolean }) => {
      const id = parseSnapshotId(opts.id);
      const to: 'live' | SnapshotId = opts.to === 'live' ? 'live' : parseSnapshotId(opts.to);
      const ctx = await openContext(loadConfig());
      const bar = progressLine(opts);
      try {
        const diff = await diffSnapshot(ctx, { id, to, limit: opts.limit, cursor: opts.cursor, entity: opts.entity, change: opts.change, method: opts.method, onProgress: bar.update });
        bar.done();
        emit(opts, diff, (d) => describe(d, opts));
      } finally {
        bar.done();
      }
    });
}

const n = (v: number) => v.toLocaleString('en-US');

function describe(d: SnapshotDiff, opts: { id: string; to: string; entity?: string; change?: string }): string {
  const target = d.to === 'live' ? 'the live database' : d.to;
  const lines = [`Restoring ${d.snapshot_id} over ${target} (computed from ${d.method}: ${d.method_reason})`];
  const s = d.schema;
  lines.push(
    `schema: snapshot ${s.snapshot ?? '(none)'}, ${d.to === 'live' ? 'live' : d.to} ${s.to ?? '(none)'}, code ${s.code}` +
      (!s.restorable ? ' — the snapshot is newer than this nfr: it cannot be restored here' : s.force_required ? ' — the restore needs --force (the restored copy is migrated to the code’s schema)' : ''),
  );
  lines.push('', 'A restore would:');
  for (const { entity } of DIFF_ENTITIES) {
    const c = d.summary[entity];
    const what = [c.removes ? `remove ${n(c.removes)} added since` : '', c.brings_back ? `bring back ${n(c.brings_back)} closed since` : '', c.reverts ? `revert ${n(c.reverts)} changed since` : ''].filter(Boolean);
    lines.push(`  ${entity.replace('_', ' ')}: ${what.length ? what.join(', ') : 'no change'}`);
  }
  const changed = d.tables.filter((t) => t.difference !== 0);
  lines.push('', `Tables: ${changed.length} of ${d.tables.length} change their row count${changed.length ? ':' : ''}`);
  if (changed.length) {
    lines.push(table(['table', 'snapshot', d.to === 'live' ? 'live' : d.to, 'difference'], changed.map((t) => [`${t.schema}.${t.name}`, t.snapshot_rows === null ? '-' : n(t.snapshot_rows), t.to_rows === null ? '-' : n(t.to_rows), (t.difference > 0 ? '+' : '') + n(t.difference)])).replace(/^/gm, '  '));
  }
  if (d.changes.length) {
    lines.push('', 'Changes:');
    for (const c of d.changes) {
      const attrs = c.attributes?.map((a) => `${a.name} ${JSON.stringify(a.to)} → ${JSON.stringify(a.snapshot)}`).join('; ');
      lines.push(`  ${c.entity} ${c.change.replace('_', ' ')} ${c.id}${attrs ? `: ${attrs}` : ''}`);
    }
  }
  if (d.next_cursor) {
    const filters = `${opts.entity ? ` --entity ${opts.entity}` : ''}${opts.change ? ` --change ${opts.change}` : ''}`;
    lines.push('', `More: nfr snapshot diff --id ${d.snapshot_id} --to ${opts.to}${filters} --cursor ${d.next_cursor}`);
  }
  return lines.join('\n');
}
