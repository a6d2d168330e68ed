/**
 * Health: is there a recent snapshot, have operations been failing, is the backup volume filling
 * up, and are there leftovers of killed restores. `unhealthy` makes the CLI exit non-zero: a
 * snapshot older than the threshold, a failed operation not followed by a success, leftover
 * staging databases, a backup volume 95 % full, an unreachable server. No snapshot yet and a
 * volume 80 % full are warnings.
 */
import { notOffsite } from './offsite/copies.js';
import { offsiteRepository } from './offsite/repository.js';
import { statfs } from 'node:fs/promises';
import { withClient } from '../postgres/connection.js';
import { leftoverStagingDatabases } from '../postgres/databases.js';
import { completedSnapshots } from './catalog.js';
import { needsBackup } from './pre-restore-backup.js';
import { readEvents, readLastRestore } from './state.js';
import { readWarmRegistry } from './warm-copies.js';
import { readVerifications } from './verifications.js';
import type { Context } from '../runtime/context.js';
import type { z } from 'zod';
import type { healthCheckSchema, healthReportSchema } from './shapes.js';

export type HealthLevel = HealthReport['status'];

export type HealthCheck = z.infer<typeof healthCheckSchema>;

/** Defined once, in snapshot/shapes.ts (the API's response schema is generated from it). */
export type HealthReport = z.infer<typeof healthReportSchema>;

const DISK_WARN = 0.8;
const DISK_FAIL = 0.95;

export async function snapshotHealth(ctx: Context, now = new Date()): Promise<HealthReport> {
  const checks: HealthCheck[] = [];
  const maxAgeH = ctx.config.snapshotMaxAgeHours;

  const snapshots = await completedSnapshots(ctx.store);
  const latest = snapshots.reduce<(typeof snapshots)[number] | undefined>((a, b) => (!a || b.completed_at > a.completed_at ? b : a), undefined);
  if (!latest) {
    checks.push({ name: 'latest_snapshot', status: 'warning', message: 'no completed snapshot yet; take one with `nfr snapshot create --name ...`', value: null });
  } else {
    const ageH = (now.getTime() - new Date(latest.completed_at).getTime()) / 3_600_000;
    const status: HealthLevel = ageH > maxAgeH ? 'unhealthy' : 'healthy';
    checks.push({
      name: 'latest_snapshot',
      status,
      message: `latest snapshot ${latest.id} is ${ageH.toFixed(1)} h old (threshold ${maxAgeH} h)`,
      value: { id: latest.id, completed_at: latest.completed_at, age_hours: Number(ageH.toFixed(2)), threshold_hours: maxAgeH },
    });
  }

  // The newest snapshot is the one a restore would reach for first: if its last check failed,
  // the newest good copy is older than it looks.
  if (latest) {
    const records = await readVerifications(ctx.store);
    const record = records.get(latest.id);
    const newestGood = [...snapshots].reverse().find((m) => records.get(m.id)?.ok !== false);
    checks.push(
      record && !record.ok
        ? {
            name: 'verification',
            status: 'unhealthy',
            message: `the newest snapshot ${latest.id} failed verification at ${record.checked_at}: ${record.problems.slice(0, 3).join('; ')}; the newest snapshot that did not fail is ${newestGood?.id ?? 'none'}`,
            value: { id: latest.id, checked_at: record.checked_at, problems: record.problems, newest_good: newestGood?.id ?? null },
          }
        : {
            name: 'verification',
            status: 'healthy',
            message: record ? `the newest snapshot ${latest.id} passed verification at ${record.checked_at}` : `the newest snapshot ${latest.id} has not been verified since it was created (servers check every NFR_VERIFY_INTERVAL)`,
            value: { id: latest.id, checked_at: record?.checked_at ?? null, problems: [], newest_good: latest.id },
          },
    );
  }

  const events = await readEvents(ctx.store, 500);
  const lastSuccess = [...events].reverse().find((e) => e.status === 'completed');
  const failures = events.filter((e) => e.status !== 'completed' && (!lastSuccess || e.at > lastSuccess.at));
  const recent = events.filter((e) => e.status !== 'completed').slice(-5);
  checks.push({
    name: 'failures',
    // An operation that failed and has not been followed by a success is what monitoring is for.
    status: failures.length > 0 ? 'unhealthy' : 'healthy',
    message: failures.length > 0 ? `${failures.length} failed or interrupted operation(s) since the last success; last: ${failures[failures.length - 1]?.operation} ${failures[failures.length - 1]?.error ?? ''}`.trim() : 'no failures since the last successful operation',
    value: { since_last_success: failures.length, recent },
  });

  // As df computes it: blocks reserved for root are neither used nor available to nfr, so they
  // count on neither side (counting them as used showed 70 % where df says 28 %).
  const fs = await statfs(ctx.store.root);
  const usedBytes = (fs.blocks - fs.bfree) * fs.bsize;
  const free = fs.bavail * fs.bsize;
  const total = fs.blocks * fs.bsize;
  const used = usedBytes + free > 0 ? usedBytes / (usedBytes + free) : 0;
  checks.push({
    name: 'disk',
    status: used >= DISK_FAIL ? 'unhealthy' : used >= DISK_WARN ? 'warning' : 'healthy',
    message: `backup volume ${(used * 100).toFixed(1)} % used, ${humanBytes(free)} free (warn at ${DISK_WARN * 100} %)`,
    value: { path: ctx.store.root, total_bytes: total, free_bytes: free, used_percent: Number((used * 100).toFixed(1)) },
  });

  // Warm copies live on the database server's disk, not the backup volume: their size is shown
  // beside it, and NFR_WARM_MAX bounds how many there are. A replaced database waiting to be
  // dropped after a spare restore (./discard.ts) holds as much again until it is: counted here.
  const warm = Object.values(await readWarmRegistry(ctx.store, ctx.target.database));
  const databases = await withClient(ctx.maintenance, (client) => leftoverStagingDatabases(client), 'nfr health').catch((err: unknown) => err as Error);
  const discards = Array.isArray(databases) ? databases.filter((d) => d.discard) : [];
  const discardBytes = discards.reduce((n, d) => n + d.sizeBytes, 0);
  // A warm copy's spare (a ready clone) is one more copy of the same size, counted the same way.
  const spares = warm.filter((c) => c.spare).length;
  const warmBytes = warm.reduce((n, c) => n + c.size_bytes + (c.spare?.size_bytes ?? 0), 0) + discardBytes;
  const copies = warm.length ? `${warm.length} warm cop${warm.length === 1 ? 'y' : 'ies'}${spares ? ` and ${spares} spare${spares === 1 ? '' : 's'}` : ''}` : 'no warm copies';
  const discarding = discards.length ? `, and the replaced database${discards.length === 1 ? '' : 's'} ${discards.map((d) => d.name).join(', ')} being dropped after a restore (${humanBytes(discardBytes)})` : '';
  checks.push({
    name: 'warm_copies',
    status: 'healthy',
    message: warm.length || discards.length ? `${copies}${discarding} on the database server, ${humanBytes(warmBytes)} (limit ${ctx.config.warmMax} besides pinned ones)` : 'no warm copies',
    value: { count: warm.length, spares, total_bytes: warmBytes, limit: ctx.config.warmMax, snapshots: warm.map((c) => c.snapshot_id), discarding: discards.map((d) => ({ database: d.name, size_bytes: d.sizeBytes })) },
  });

  // The replaced database is the only copy of the old state until its backup exists.
  const last = await readLastRestore(ctx.store, ctx.target.database);
  if (needsBackup(last) && last) {
    checks.push({
      name: 'pre_restore_backup',
      status: 'unhealthy',
      message: `the pre-restore backup of the restore of ${last.snapshot_id} ${last.backup?.status === 'failed' ? 'failed' : 'did not complete'}; the replaced database is kept as "${last.previous_database}" (undo works), and the next restore backs it up before dropping it${last.backup?.error ? `: ${last.backup.error}` : ''}`,
      value: { snapshot_id: last.snapshot_id, kept_database: last.previous_database, backup: last.backup ?? null },
    });
  }

  if (Array.isArray(databases)) {
    // A discard is expected work, dropped within seconds by whoever runs next; the rest are leftovers.
    const leftovers = databases.filter((d) => !d.discard).map((d) => d.name);
    checks.push({
      name: 'staging_databases',
      status: leftovers.length > 0 ? 'unhealthy' : 'healthy',
      message: leftovers.length > 0 ? `leftover staging databases of interrupted restores: ${leftovers.join(', ')} (the next snapshot operation drops them)` : 'no leftover staging databases',
      value: leftovers,
    });
    checks.push({ name: 'database', status: 'healthy', message: `database server ${ctx.target.host}:${ctx.target.port} reachable`, value: null });
  } else {
    checks.push({ name: 'database', status: 'unhealthy', message: databases.message, value: null });
  }

  const offsite = await offsiteHealth(ctx, now);
  if (offsite) checks.push(offsite);

  const status: HealthLevel = checks.some((c) => c.status === 'unhealthy') ? 'unhealthy' : checks.some((c) => c.status === 'warning') ? 'warning' : 'healthy';
  return { status, checks };
}

/** 30 MB free must not read "0.0 GiB". */
function humanBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(0)} KiB`;
}

/**
 * Snapshots not offsite yet: unhealthy once one has waited longer than NFR_OFFSITE_MAX_DELAY (or
 * the repository cannot be read), a warning while uploads are merely pending. Undefined without
 * an offsite repository.
 */
async function offsiteHealth(ctx: Context, now: Date): Promise<HealthCheck | undefined> {
  const repo = offsiteRepository(ctx.config);
  if (!repo.configured) return undefined;
  const maxDelay = ctx.config.offsiteMaxDelaySeconds;
  let pending: Awaited<ReturnType<typeof notOffsite>>;
  try {
    pending = await notOffsite(ctx);
  } catch (err) {
    return { name: 'offsite', status: 'unhealthy', message: (err as Error).message, value: { repository: repo.description } };
  }
  const overdue = pending.filter((m) => now.getTime() - new Date(m.completed_at).getTime() > maxDelay * 1000);
  const ids = (list: typeof pending) => list.map((m) => m.id);
  return {
    name: 'offsite',
    status: overdue.length ? 'unhealthy' : pending.length ? 'warning' : 'healthy',
    message: overdue.length
      ? `${overdue.length} snapshot(s) not offsite for longer than ${maxDelay} s (NFR_OFFSITE_MAX_DELAY): ${ids(overdue).join(', ')}; push with nfr snapshot push --id ${overdue[0]?.id}`
      : pending.length
        ? `${pending.length} snapshot(s) waiting to be pushed to ${repo.description}: ${ids(pending).join(', ')}`
        : `every snapshot is in ${repo.description}`,
    value: { repository: repo.description, not_offsite: ids(pending), overdue: ids(overdue), max_delay_seconds: maxDelay },
  };
}
