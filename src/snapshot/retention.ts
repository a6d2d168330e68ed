/**
 * Retention: keep the newest snapshot of each of the latest N days, weeks (ISO) and months,
 * anything tagged `pre-deployment` for 30 days and anything `pinned` forever; the rest goes.
 * The plan is a pure function so `--dry-run` shows exactly what `prune` would do.
 *
 * A snapshot whose last verification failed (verifications.ts) never fills a daily, weekly or
 * monthly slot: the slot goes to the newest snapshot that did not fail, so a corrupt copy can
 * never be the reason good ones are deleted. It is kept only when pinned or pre-deployment.
 */
import type { SnapshotId } from './ids.js';
import type { Manifest } from './manifest.js';
import { removeEverywhere } from './delete.js';
import { everySnapshot } from './offsite/copies.js';
import { withOperation } from '../runtime/operation.js';
import { recordEvent } from './state.js';
import { failedVerifications } from './verifications.js';
import type { Context } from '../runtime/context.js';
import type { z } from 'zod';
import type { pruneResultSchema, retentionDecisionSchema } from './shapes.js';

export interface RetentionPolicy {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  readonly preDeploymentDays?: number;
}

/** Why a snapshot is kept; `unconfirmed`: the policy came to delete it only after the question was asked. */
export type KeepReason = RetentionDecision['reasons'][number];

export type RetentionDecision = z.infer<typeof retentionDecisionSchema>;

const DAY_MS = 24 * 3600 * 1000;

function dayKey(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function monthKey(d: Date): string {
  return d.toISOString().slice(0, 7);
}

/** ISO 8601 week, e.g. "2026-W48". */
function weekKey(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const weekday = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / DAY_MS + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/** Decides, for every snapshot, whether retention keeps it and why. Newest first. */
export function planRetention(snapshots: readonly Manifest[], policy: RetentionPolicy, now: Date, failedVerification: ReadonlySet<string> = new Set()): RetentionDecision[] {
  const newestFirst = [...snapshots].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
  const buckets: { reason: KeepReason; key: (d: Date) => string; limit: number; seen: Set<string> }[] = [
    { reason: 'daily', key: dayKey, limit: policy.daily, seen: new Set() },
    { reason: 'weekly', key: weekKey, limit: policy.weekly, seen: new Set() },
    { reason: 'monthly', key: monthKey, limit: policy.monthly, seen: new Set() },
  ];
  const preDeploymentMs = (policy.preDeploymentDays ?? 30) * DAY_MS;
  return newestFirst.map((m) => {
    const created = new Date(m.created_at);
    const reasons: KeepReason[] = [];
    if (m.tags.includes('pinned')) reasons.push('pinned');
    if (m.tags.includes('pre-deployment') && now.getTime() - created.getTime() <= preDeploymentMs) reasons.push('pre-deployment');
    const failed = failedVerification.has(m.id);
    for (const b of failed ? [] : buckets) {
      const k = b.key(created);
      if (!b.seen.has(k) && b.seen.size < b.limit) {
        b.seen.add(k);
        reasons.push(b.reason);
      }
    }
    return { id: m.id, name: m.name, created_at: m.created_at, keep: reasons.length > 0, reasons, bytes: m.total_bytes, verification_failed: failed };
  });
}

/** Defined once, in snapshot/shapes.ts (the API's response schema is generated from it). */
export type PruneResult = z.infer<typeof pruneResultSchema>;

/** Applies the retention policy (or only reports it with dryRun). Runs under the operation lock. */
export interface PruneOptions {
  readonly dryRun: boolean;
  readonly now?: Date;
  /**
   * Asked before anything is deleted, with what the policy would delete (only when it would
   * delete something); throwing deletes nothing. The question is asked without holding the lock
   * (a person may take a while); what is then deleted under the lock is the policy's plan at
   * that moment, limited to what was confirmed, so nothing is ever deleted that was not shown.
   */
  readonly confirm?: (plan: PruneResult) => Promise<void>;
}

export async function pruneSnapshots(ctx: Context, options: PruneOptions): Promise<PruneResult> {
  const policy = ctx.config.retention;
  const plan = async () => planRetention(await everySnapshot(ctx), policy, options.now ?? new Date(), await failedVerifications(ctx.store));
  const summarize = (decisions: RetentionDecision[], dryRun: boolean): PruneResult => {
    const deleted = decisions.filter((d) => !d.keep);
    return { dry_run: dryRun, deleted, kept: decisions.filter((d) => d.keep), freed_bytes: deleted.reduce((s, d) => s + d.bytes, 0) };
  };
  if (options.dryRun) return summarize(await plan(), true);
  let confirmed: Set<string> | undefined;
  if (options.confirm) {
    const proposed = summarize(await plan(), true);
    if (proposed.deleted.length > 0) await options.confirm(proposed);
    confirmed = new Set(proposed.deleted.map((d) => d.id));
  }
  return withOperation(ctx, 'prune', null, async (op) => {
    const decisions = (await plan()).map((d): RetentionDecision => (d.keep || !confirmed || confirmed.has(d.id) ? d : { ...d, keep: true, reasons: [...d.reasons, 'unconfirmed'] }));
    for (const d of decisions) {
      if (d.keep) continue;
      await removeEverywhere(ctx, op.maint, d.id as SnapshotId);
    }
    const result = summarize(decisions, false);
    await recordEvent(ctx.store, { operation: 'prune', status: 'completed', details: { deleted: result.deleted.map((d) => d.id) } });
    return result;
  });
}
