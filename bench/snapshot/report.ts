/**
 * Turns the runs into the printed results: medians, nfr/raw ratios, PASS/FAIL per target, where
 * nfr's extra time goes, and one `RESULT {json}` line for machines.
 */
import type { OffsiteResults } from './offsite.js';
import type { Dataset } from './dataset.js';
import type { CreateRuns, ProbedRestore, RestoreRuns } from './measure.js';
import type { FullResults } from './full.js';
import type { WarmResults } from './warm.js';
import type { BenchSettings } from './settings.js';
import type { ToolSpan } from './tool-watch.js';

export interface Diagnostics {
  /** `nfr snapshot list`: node start-up, module loading, config — paid by every command. */
  readonly nfr_startup_s: number;
  /** SHA-256 of the whole archive with nfr's parallelism (create writes, restore verifies). */
  readonly checksum_archive_s: number;
  /** count(*) of every table on one session (create does this alongside pg_dump). */
  readonly count_rows_s: number;
}

export interface Results {
  readonly settings: Omit<BenchSettings, 'parentDir' | 'pgBinDir'>;
  readonly server_version: string;
  readonly dataset: Dataset;
  readonly create: CreateRuns;
  readonly restore: RestoreRuns;
  readonly probed_restore: ProbedRestore;
  readonly diagnostics: Diagnostics;
  /** Full snapshots (database + embedded index), when BENCH_FULL is not 0. */
  readonly full?: FullResults | undefined;
  /** Warm snapshots, when BENCH_WARM is not 0. */
  readonly warm?: WarmResults | undefined;
  /** The offsite repository, when BENCH_OFFSITE is not 0. */
  readonly offsite?: OffsiteResults | undefined;
}

/** The targets the snapshot engine promises; a miss is reported, not an error. */
export const TARGETS = {
  create_ratio: 1.1,
  restore_ratio: 1.15,
  blocked_ms: 1000,
  undo_s: 1,
} as const;

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

interface Summary {
  readonly create_nfr_s: number;
  readonly create_raw_s: number;
  readonly create_ratio: number;
  readonly restore_nfr_s: number;
  readonly restore_raw_s: number;
  readonly restore_ratio: number;
  readonly blocked_ms: number;
  readonly undo_s: number;
  readonly undo_blocked_ms: number;
  readonly client_longest_gap_ms: number;
  readonly checks: { readonly name: string; readonly value: string; readonly pass: boolean }[];
}

export function summarize(r: Results): Summary {
  const createNfr = median(r.create.nfr_s);
  const createRaw = median(r.create.raw_s);
  const restoreNfr = median(r.restore.nfr_s);
  const restoreRaw = median(r.restore.raw_s);
  const blocked = median(r.restore.blocked_ms);
  const undo = median(r.restore.undo_s);
  return {
    create_nfr_s: createNfr,
    create_raw_s: createRaw,
    create_ratio: createNfr / createRaw,
    restore_nfr_s: restoreNfr,
    restore_raw_s: restoreRaw,
    restore_ratio: restoreNfr / restoreRaw,
    blocked_ms: blocked,
    undo_s: undo,
    undo_blocked_ms: median(r.restore.undo_blocked_ms),
    client_longest_gap_ms: r.probed_restore.probe.longest_gap_ms,
    checks: [
      { name: `create <= ${TARGETS.create_ratio.toFixed(2)}x raw pg_dump`, value: `${(createNfr / createRaw).toFixed(2)}x`, pass: createNfr / createRaw <= TARGETS.create_ratio },
      { name: `restore <= ${TARGETS.restore_ratio.toFixed(2)}x raw pg_restore`, value: `${(restoreNfr / restoreRaw).toFixed(2)}x`, pass: restoreNfr / restoreRaw <= TARGETS.restore_ratio },
      { name: `blocked <= ${TARGETS.blocked_ms / 1000} s (restore blocked_ms median)`, value: `${blocked} ms`, pass: blocked <= TARGETS.blocked_ms },
      { name: `undo <= ${TARGETS.undo_s} s (whole command, median)`, value: `${undo.toFixed(2)} s`, pass: undo <= TARGETS.undo_s },
    ],
  };
}

const sec = (x: number) => x.toFixed(2);
const list = (xs: readonly number[], unit = '') => xs.map((x) => (unit === 'ms' ? `${Math.round(x)}` : sec(x))).join(', ');

/** The human report, as lines. */
export function formatReport(r: Results): string[] {
  const sum = summarize(r);
  const runs = r.settings.runs;
  const ds = r.dataset;
  const rows: [string, string, string, string][] = [
    ['operation', 'nfr', 'raw', 'nfr/raw'],
    ['snapshot create', `${sec(sum.create_nfr_s)} s`, `${sec(sum.create_raw_s)} s`, `${sum.create_ratio.toFixed(2)}x`],
    ['snapshot restore', `${sec(sum.restore_nfr_s)} s`, `${sec(sum.restore_raw_s)} s`, `${sum.restore_ratio.toFixed(2)}x`],
    ['restore: live db blocked (blocked_ms)', `${sum.blocked_ms} ms`, '', ''],
    ['restore --undo (whole command)', `${sec(sum.undo_s)} s`, '', ''],
    ['restore --undo: blocked_ms', `${sum.undo_blocked_ms} ms`, '', ''],
    ['longest unavailability seen by a client', `${sum.client_longest_gap_ms} ms`, '', ''],
  ];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  const line = (row: readonly string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('   ').trimEnd();
  const p = r.probed_restore.probe;
  return [
    '',
    `== nfr snapshot benchmark: ${(ds.size_bytes / 1024 / 1024).toFixed(0)} MiB database, PostgreSQL ${r.server_version}, jobs ${r.settings.jobs}, -Z${r.settings.compression}, median of ${runs} ==`,
    `dataset: ${ds.controls} controls (${ds.control_versions} versions), ${ds.functions} functions; built in ${sec(ds.build_seconds)} s; archive ${(r.create.archive_bytes / 1024 / 1024).toFixed(0)} MiB`,
    '',
    line(rows[0] as string[]),
    ...rows.slice(1).map(line),
    '',
    'targets:',
    ...sum.checks.map((c) => `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name.padEnd(48)} ${c.value}`),
    '',
    'per run (s):',
    `  nfr create      ${list(r.create.nfr_s)}   (nfr's own duration_ms: ${list(r.create.nfr_reported_ms, 'ms')})`,
    `  pg_dump         ${list(r.create.raw_s)}`,
    `  nfr restore     ${list(r.restore.nfr_s)}   (blocked_ms: ${list(r.restore.blocked_ms, 'ms')})`,
    `  pg_restore      ${list(r.restore.raw_s)}`,
    `  nfr undo        ${list(r.restore.undo_s)}   (blocked_ms: ${list(r.restore.undo_blocked_ms, 'ms')})`,
    '',
    `client probe (new connection + select 1 every ~20 ms, during one extra restore of ${sec(r.probed_restore.restore_s)} s, blocked_ms ${r.probed_restore.blocked_ms}):`,
    `  longest gap ${p.longest_gap_ms} ms, ended ${r.probed_restore.gap_ended_before_exit_ms} ms before nfr exited, failures inside it ${JSON.stringify(p.longest_gap_errors)}`,
    `  normal gap ${p.typical_gap_ms} ms; ${p.successes} ok, ${p.failures} failed in all ${JSON.stringify(p.errors)}`,
    '',
    'where nfr spends its time (medians; tool seen in /proc, +-25 ms):',
    ...spanLines('create ', r.create.nfr_s, r.create.nfr_spans, 'pg_dump', sum.create_raw_s),
    ...spanLines('restore', r.restore.nfr_s, r.restore.nfr_spans, 'pg_restore', sum.restore_raw_s),
    `  for scale: nfr start-up ${sec(r.diagnostics.nfr_startup_s)} s; SHA-256 of the archive ${sec(r.diagnostics.checksum_archive_s)} s; count(*) of every table ${sec(r.diagnostics.count_rows_s)} s`,
  ];
}

function spanLines(label: string, totals: readonly number[], spans: readonly (ToolSpan | undefined)[], tool: string, raw: number): string[] {
  const seen = spans.flatMap((span, i) => (span ? [{ span, total: totals[i] as number }] : []));
  if (seen.length === 0) return [`  ${label}: ${tool} not seen (no /proc?)`];
  const before = median(seen.map((x) => x.span.before_ms / 1000));
  const during = median(seen.map((x) => x.span.tool_ms / 1000));
  const after = median(seen.map((x) => x.total - (x.span.before_ms + x.span.tool_ms) / 1000));
  return [`  ${label}: before ${tool} ${sec(before)} s | ${tool} ${sec(during)} s (raw ${sec(raw)} s) | after ${tool} ${sec(after)} s`];
}

/** The machine-readable line: everything measured, plus the summary and checks. */
export function resultLine(r: Results): string {
  const { create, ...rest } = r;
  const { snapshotId: _id, dumpDir: _dir, ...createRuns } = create;
  return `RESULT ${JSON.stringify({ ...rest, create: createRuns, summary: summarize(r) })}`;
}
