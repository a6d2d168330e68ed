/** `nfr snapshot ...`: flags become options for the core; results are printed. No logic here. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { NfrError } from '../errors.js';
import { pushSnapshot } from '../snapshot/offsite/copies.js';
import { findManifest, verifyOffsiteOnly, whereIsIt } from '../snapshot/offsite/find.js';
import { offsiteRepository } from '../snapshot/offsite/repository.js';
import { deleteSnapshot, findDeletable } from '../snapshot/delete.js';
import { snapshotHealth } from '../snapshot/health.js';
import { parseSnapshotId } from '../snapshot/ids.js';
import { restorePreflight, restoreSnapshot, undoLastRestore } from '../snapshot/restore/index.js';
import { pruneSnapshots } from '../snapshot/retention.js';
import { snapshotStatus } from '../snapshot/status.js';
import { openContext } from '../pipeline/context.js';
import { recoverOnDemand } from '../pipeline/recover.js';
import { snapshotStore } from '../runtime/context.js';
import { deepVerify } from '../snapshot/deep-verify.js';
import { verifySnapshot } from '../snapshot/verifications.js';
import { prepareSpare } from '../snapshot/spare.js';
import { aServerPreparesSpares, prepareSpareInBackground } from './snapshot-spare.js';
import { coolSnapshot, warmSnapshot } from '../snapshot/warm.js';
import { readAllWarmCopies } from '../snapshot/warm-copies.js';
import { intFlag } from './flags.js';
import { registerSnapshotDiff } from './snapshot-diff.js';
import { registerSnapshotCreate } from './snapshot-create.js';
import { registerSnapshotList, SNAPSHOT_GROUP_DESCRIPTION } from './snapshot-list.js';
import { confirm, emit, formatBytes, formatDuration, progressLine } from './output.js';

interface Common {
  json?: boolean;
}

const jobsFlag = intFlag('--jobs', 1, 64);

export function registerSnapshotCommands(program: Command): void {
  const snapshot = program.command('snapshot').description(SNAPSHOT_GROUP_DESCRIPTION);
  registerSnapshotDiff(snapshot);
  registerSnapshotList(snapshot);

  registerSnapshotCreate(snapshot);

  snapshot
    .command('show')
    .description('show one snapshot\'s manifest')
    .requiredOption('--id <id>', 'snapshot id (SNAP-YYYY-NNNN)')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { id: string }) => {
      const id = parseSnapshotId(opts.id);
      const config = loadConfig();
      const store = snapshotStore(config.backupPath);
      const { manifest, location } = await findManifest({ config, store }, id);
      const warm = (await readAllWarmCopies(store)).get(id) ?? null;
      emit(opts, { ...manifest, location, warm }, (m) =>
        [
          `${m.id}  ${m.name}`,
          `  location    ${location}`,
          warm ? `  warm        ${warm.database} (${formatBytes(warm.size_bytes)}, since ${warm.warmed_at}${warm.last_restored_at ? `, last restored ${warm.last_restored_at}` : ''})` : '',
          m.description ? `  ${m.description}` : '',
          `  created     ${m.created_at} (${formatDuration(m.duration_ms)})`,
          `  tags        ${m.tags.join(', ') || '-'}`,
          `  database    ${m.database.name} (PostgreSQL ${m.database.server_version}, schema ${m.database.schema_version ?? 'none'}, stage ${m.database.pipeline_stage ?? '-'})`,
          `  size        ${formatBytes(m.total_bytes)} in ${m.files.length} files (-Z${m.dump.compression}, ${m.dump.jobs} jobs)`,
          `  tables`,
          ...m.tables.map((t) => `    ${`${t.schema}.${t.name}`.padEnd(44)} ${String(t.rows).padStart(12)}`),
        ]
          .filter(Boolean)
          .join('\n'),
      );
    });

  snapshot
    .command('restore')
    .description('restore a snapshot over the live database (or --undo the last restore)')
    .option('--id <id>', 'snapshot id (SNAP-YYYY-NNNN)')
    .option('--undo', 'put back the database the last restore replaced, by rename')
    .option('--skip-backup', 'do not take a pre-restore backup snapshot')
    .option('--force', 'restore across schema versions, then migrate to the current schema')
    .option('--jobs <n>', 'parallel pg_restore jobs', jobsFlag)
    .option('--resync', 'bring the vector index in line after the restore')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--skip-confirm', 'same as --yes')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { id?: string; undo?: boolean; skipBackup?: boolean; force?: boolean; jobs?: number; resync?: boolean; yes?: boolean; skipConfirm?: boolean }) => {
      const yes = opts.yes === true || opts.skipConfirm === true;
      if (opts.undo) {
        if (opts.id !== undefined) throw new NfrError('USAGE', '--undo takes no --id: it reverses the last restore');
        const ctx = await openContext(loadConfig());
        await confirm(`Swap database "${ctx.target.database}" back to the state before the last restore?`, { yes, json: opts.json });
        const r = await undoLastRestore(ctx);
        emit(opts, r, () => `${r.undone ? 'undid' : 'redid'} the restore of ${r.snapshot_id} on "${r.database}" (connections blocked ${r.blocked_ms} ms, ${r.sessions_ended} sessions ended)`);
        return;
      }
      if (opts.id === undefined) throw new NfrError('USAGE', 'restore needs --id SNAP-YYYY-NNNN (or --undo)');
      const id = parseSnapshotId(opts.id);
      const ctx = await openContext(loadConfig({ jobs: opts.jobs }));
      await restorePreflight(ctx, id, opts.force === true);
      await confirm(`Replace database "${ctx.target.database}" with snapshot ${id}?${opts.skipBackup ? ' (no pre-restore backup)' : ''}`, { yes, json: opts.json });
      const bar = progressLine(opts);
      try {
        const r = await restoreSnapshot(ctx, { id, skipBackup: opts.skipBackup, force: opts.force, jobs: opts.jobs, resync: opts.resync, onProgress: bar.update });
        bar.done();
        emit(opts, r, () =>
          [
            `restored ${r.snapshot_id} into "${r.database}" from its ${r.restored_from}: ${r.tables_checked} tables, ${r.rows_restored} rows checked, in ${formatDuration(r.duration_ms)}`,
            `  live database blocked for ${r.blocked_ms} ms; ${r.sessions_ended} session(s) ended`,
            r.pre_restore_backup_id ? `  pre-restore backup: ${r.pre_restore_backup_id}` : r.pre_restore_backup_error ? `  WARNING: ${r.pre_restore_backup_error}` : '  no pre-restore backup (--skip-backup)',
            r.schema.migrated.length ? `  migrated to ${r.schema.code}: ${r.schema.migrated.join(', ')}` : '',
            r.previous_database ? `  undo with: nfr snapshot restore --undo` : '',
            `  snapshot stage: ${r.after_restore.snapshot_stage ?? '-'}; vector index: ${r.after_restore.index.status}${r.after_restore.index.detail ? ` (${r.after_restore.index.detail})` : ''}`,
            r.after_restore.index.fix ? `  out of date: the vector index; fix with: ${r.after_restore.index.fix} (or restore with --resync)` : '',
            r.after_restore.rerun.commands.length ? `  ${r.after_restore.rerun.summary}\n${r.after_restore.rerun.commands.map((c) => `    ${c}`).join('\n')}` : '',
            r.after_restore.unreferenced_files.count
              ? `  ${r.after_restore.unreferenced_files.count} file(s) under DATA_INGESTED_PATH belong to uploads the restored database does not know: ${r.after_restore.unreferenced_files.files.slice(0, 5).join(', ')}${r.after_restore.unreferenced_files.count > 5 ? ', ...' : ''}`
              : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
        // Off the critical path: the restore has been reported and this process exits now; a
        // detached preparer (or a running server) makes the next spare, so the next restore is a
        // rename again.
        if (r.restored_from !== 'archive' && ctx.config.warmSpare) prepareSpareInBackground(id);
      } finally {
        bar.done();
      }
    });

  snapshot
    .command('spare')
    .description("prepare a warm snapshot's ready spare now (a restore starts this in the background)")
    .requiredOption('--id <id>', 'snapshot id (SNAP-YYYY-NNNN)')
    .option('--lock-wait <seconds>', 'wait this long for the operation lock (default NFR_LOCK_WAIT_SECONDS)', intFlag('--lock-wait', 0, 86_400))
    .option('--unless-served', 'leave it to a running nfr serve of this database, if one is alive')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { id: string; lockWait?: number; unlessServed?: boolean }) => {
      const id = parseSnapshotId(opts.id);
      const ctx = await openContext(loadConfig({ lockWaitSeconds: opts.lockWait }));
      const r = opts.unlessServed && (await aServerPreparesSpares(ctx)) ? ({ status: 'skipped', reason: 'a running nfr serve prepares it' } as const) : await prepareSpare(ctx, id, undefined, !opts.unlessServed);
      emit(opts, { snapshot_id: id, ...r }, () => (r.status === 'prepared' ? `${id}: spare ${r.spare.database} ready (${formatBytes(r.spare.size_bytes)}, ${r.spare.rows} rows checked)` : `${id}: no spare: ${r.reason}`));
    });

  snapshot
    .command('delete')
    .description('delete a snapshot')
    .requiredOption('--id <id>', 'snapshot id (SNAP-YYYY-NNNN)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--skip-confirm', 'same as --yes')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { id: string; yes?: boolean; skipConfirm?: boolean }) => {
      const id = parseSnapshotId(opts.id);
      const ctx = await openContext(loadConfig());
      const found = await findDeletable(ctx, id);
      const question =
        'damaged' in found
          ? `Delete the damaged snapshot directory ${id} (${found.damaged})?`
          : `Delete snapshot ${id}${found.location === 'both' ? ' (local and offsite copies)' : found.location === 'offsite' ? ' (offsite copy)' : ''} "${found.manifest.name}" (${formatBytes(found.manifest.total_bytes)})?`;
      await confirm(question, { yes: opts.yes === true || opts.skipConfirm === true, json: opts.json });
      const r = await deleteSnapshot(ctx, id);
      emit(opts, r, () => (r.damaged ? `deleted the damaged snapshot ${r.id}, freed ${formatBytes(r.freed_bytes)}` : `deleted ${r.id} "${r.name}", freed ${formatBytes(r.freed_bytes)}`));
    });

  snapshot
    .command('verify')
    .description('check every file of a snapshot against its manifest')
    .requiredOption('--id <id>', 'snapshot id (SNAP-YYYY-NNNN)')
    .option('--deep', 'also restore into a scratch database and compare row counts')
    .option('--offsite', 'check the offsite copy instead: read every object back from the bucket')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { id: string; deep?: boolean; offsite?: boolean }) => {
      const id = parseSnapshotId(opts.id);
      const config = loadConfig();
      if (opts.deep && opts.offsite) throw new NfrError('USAGE', '--deep and --offsite check different copies: give one');
      const bar = progressLine(opts);
      const result = opts.offsite
        ? await offsiteRepository(config).verify(id, (p) => bar.update({ phase: p.phase, tables_done: p.files_done, tables_total: p.files_total, bytes: p.bytes })).finally(() => bar.done())
        : await (opts.deep ? openContext(config).then((ctx) => deepVerify(ctx, id)) : verifySnapshot(snapshotStore(config.backupPath), id, config.parallelJobs)).catch(async (err: unknown) => {
            throw await whereIsIt({ config }, id, err, verifyOffsiteOnly(id));
          });
      emit(opts, result, (r) =>
        r.ok
          ? `${r.id} OK: ${r.files_checked} files, ${formatBytes(r.bytes_checked)} checked${r.deep ? `; restored ${r.deep.tables_checked} tables, ${r.deep.rows_checked} rows match` : ''}`
          : `${r.id} FAILED:\n  ${r.problems.join('\n  ')}`,
      );
      if (!result.ok) throw new NfrError('VERIFY_FAILED', `snapshot ${id} failed verification (${result.problems.length} problem(s))`, { details: { problems: result.problems, reported: true } });
    });

  snapshot
    .command('push')
    .description('upload a snapshot that is not offsite yet to the offsite repository (NFR_S3_REPOSITORY)')
    .requiredOption('--id <id>', 'snapshot id (SNAP-YYYY-NNNN)')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { id: string }) => {
      const id = parseSnapshotId(opts.id);
      const ctx = await openContext(loadConfig());
      const bar = progressLine(opts);
      try {
        const r = await pushSnapshot(ctx, id, bar.update);
        bar.done();
        emit(opts, r, () =>
          r.uploaded
            ? `pushed ${r.snapshot_id} to ${offsiteRepository(ctx.config).description}: ${r.files} files, ${formatBytes(r.bytes)}${r.encrypted ? ` encrypted (key ${r.key_fingerprint})` : ''}, read back and checked`
            : `${r.snapshot_id} is already offsite in ${offsiteRepository(ctx.config).description}`,
        );
      } finally {
        bar.done();
      }
    });

  snapshot
    .command('warm')
    .description('keep a ready copy of a snapshot on the server (a template database), so restoring it is a file copy')
    .requiredOption('--id <id>', 'snapshot id (SNAP-YYYY-NNNN)')
    .option('--jobs <n>', 'parallel pg_restore jobs', jobsFlag)
    .option('--json', 'print JSON')
    .action(async (opts: Common & { id: string; jobs?: number }) => {
      const id = parseSnapshotId(opts.id);
      const ctx = await openContext(loadConfig({ jobs: opts.jobs }));
      const bar = progressLine(opts);
      try {
        const r = await warmSnapshot(ctx, { id, jobs: opts.jobs, onProgress: bar.update });
        bar.done();
        emit(opts, r, () =>
          [
            r.created ? `warmed ${r.snapshot_id}${r.fetched ? ` (fetched back from ${offsiteRepository(ctx.config).description} first)` : ''} as ${r.warm.database}: ${formatBytes(r.warm.size_bytes)}, ${r.warm.rows} rows checked, in ${formatDuration(r.duration_ms)}` : `${r.snapshot_id} is already warm as ${r.warm.database}`,
            r.cooled.length ? `  cooled to stay within NFR_WARM_MAX: ${r.cooled.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
      } finally {
        bar.done();
      }
    });

  snapshot
    .command('cool')
    .description("drop a snapshot's warm copy (the snapshot stays)")
    .requiredOption('--id <id>', 'snapshot id (SNAP-YYYY-NNNN)')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { id: string }) => {
      const id = parseSnapshotId(opts.id);
      const r = await coolSnapshot(await openContext(loadConfig()), id);
      emit(opts, r, () => (r.cooled ? `cooled ${r.snapshot_id}: freed ${formatBytes(r.freed_bytes)} on the database server` : `${r.snapshot_id} was not warm`));
    });

  snapshot
    .command('status')
    .description('who holds the operation lock, what is in progress, the last operation, leftovers waiting for recovery (reads only)')
    .option('--json', 'print JSON')
    .action(async (opts: Common) => {
      const s = await snapshotStatus(await openContext(loadConfig()));
      emit(opts, s, () =>
        [
          `database      ${s.database}`,
          `backups       ${s.backup_path} (${s.snapshots.count} snapshots, ${formatBytes(s.snapshots.total_bytes)}, latest ${s.snapshots.latest ?? '-'}; ${formatBytes(s.backup_volume.free_bytes)} free)`,
          s.lock.held
            ? `lock          held${s.lock.holder ? ` by pid ${s.lock.holder.pid} on ${s.lock.holder.host}: ${s.lock.holder.operation}${s.lock.holder.snapshot_id ? ` ${s.lock.holder.snapshot_id}` : ''} since ${s.lock.holder.started_at}` : ''}`
            : `lock          free${s.lock.stale_lock_file ? ` (stale lock file of dead pid ${s.lock.stale_lock_file.pid} on ${s.lock.stale_lock_file.host}; ignored)` : ''}`,
          s.in_progress.length ? `in progress   ${s.in_progress.join(', ')}` : '',
          s.leftovers.length ? `leftovers     of a dead operation, repaired by a running server or \`nfr snapshot recover\`: ${s.leftovers.join('; ')}` : '',
          s.last_operation ? `last          ${s.last_operation.operation} ${s.last_operation.snapshot_id ?? ''} ${s.last_operation.status} at ${s.last_operation.at}` : 'last          -',
          s.last_restore ? `last restore  ${s.last_restore.snapshot_id} at ${s.last_restore.restored_at}${s.last_restore.undone ? ' (undone)' : ''}; ${s.last_restore.undo_command ?? `no undo: ${s.last_restore.no_undo_reason ?? ''}`}` : '',
          s.backup_missing ? `WARNING       ${s.backup_missing}` : '',
          s.warm.length ? `warm          ${s.warm.map((w) => `${w.snapshot_id} (${formatBytes(w.size_bytes)})`).join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
      // Nothing can run on a full backup volume: scripts must see it, as with health.
      if (s.backup_volume.full) {
        throw new NfrError('DISK_FULL', `no space left on the device holding ${s.backup_path} (${formatBytes(s.backup_volume.free_bytes)} free): no operation can run until space is freed there`, { details: { reported: true } });
      }
    });

  snapshot
    .command('recover')
    .description('repair now what a dead operation left (staging databases, a live database left refusing connections, temporary files); running servers do this every few seconds')
    .option('--json', 'print JSON')
    .action(async (opts: Common) => {
      const r = await recoverOnDemand(await openContext(loadConfig()));
      emit(opts, r, () => (r.repaired ? `recovered: ${r.summary}` : 'nothing to recover'));
    });

  snapshot
    .command('prune')
    .description('delete snapshots outside the retention policy')
    .option('--dry-run', 'only list what would be deleted')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--skip-confirm', 'same as --yes')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { dryRun?: boolean; yes?: boolean; skipConfirm?: boolean }) => {
      const ctx = await openContext(loadConfig());
      const yes = opts.yes === true || opts.skipConfirm === true;
      const r = await pruneSnapshots(ctx, {
        dryRun: opts.dryRun === true,
        confirm: (plan) => confirm(`Delete ${plan.deleted.length} snapshot(s) (${plan.deleted.map((d) => d.id).join(', ')})?`, { yes, json: opts.json }),
      });
      emit(opts, r, () =>
        [
          `${r.dry_run ? 'would delete' : 'deleted'} ${r.deleted.length} snapshot(s), ${formatBytes(r.freed_bytes)}${r.deleted.length ? ':' : ''}`,
          ...r.deleted.map((d) => `  ${d.id}  ${d.created_at}  ${d.name}`),
          `kept ${r.kept.length}:`,
          ...r.kept.map((d) => `  ${d.id}  ${d.created_at}  (${d.reasons.join(', ')})`),
        ].join('\n'),
      );
    });

  snapshot
    .command('health')
    .description('snapshot age, failures, backup disk space, leftovers; exits non-zero when unhealthy')
    .option('--json', 'print JSON')
    .action(async (opts: Common) => {
      const report = await snapshotHealth(await openContext(loadConfig()));
      emit(opts, report, (r) => [`${r.status.toUpperCase()}`, ...r.checks.map((c) => `  ${c.status.padEnd(9)} ${c.name.padEnd(18)} ${c.message}`)].join('\n'));
      if (report.status === 'unhealthy') {
        throw new NfrError('UNHEALTHY', `snapshots are unhealthy: ${report.checks.filter((c) => c.status === 'unhealthy').map((c) => c.message).join('; ')}`, { details: { reported: true } });
      }
    });
}
