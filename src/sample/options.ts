/** Options and results shared by the sample commands, and the checks on their values. */
import { NfrError } from '../errors.js';
import type { SampleFile } from './writer.js';

/** A fixed default date, so two runs without --date write the same bytes. */
export const DEFAULT_SAMPLE_DATE = '2026-01-01';
export const DEFAULT_SEED = 1;
/** Beyond this the run takes hours and the ids outgrow their padding; nobody needs more. */
export const MAX_GENERATED_CONTROLS = 100_000_000;

/** What a sample command wrote. */
export interface SampleSummary {
  readonly kind: 'nist' | 'generate';
  readonly out_dir: string;
  readonly date: string;
  /** The seed (generate only). */
  readonly seed: number | null;
  readonly controls: number;
  readonly files: readonly SampleFile[];
  readonly total_bytes: number;
  readonly duration_ms: number;
}

/** Checks a YYYY-MM-DD date that exists on the calendar (2026-02-30 does not). */
export function parseSampleDate(value: string | undefined): string {
  if (value === undefined) return DEFAULT_SAMPLE_DATE;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
  if (!m || !d || d.toISOString().slice(0, 10) !== value) {
    throw new NfrError('INVALID_INPUT', `date ${JSON.stringify(value)} is not a calendar date in the form YYYY-MM-DD (e.g. 2026-01-01)`);
  }
  return value;
}

export function checkControlCount(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_GENERATED_CONTROLS) {
    throw new NfrError('INVALID_INPUT', `controls ${n}: expected a whole number from 1 to ${MAX_GENERATED_CONTROLS}`);
  }
  return n;
}

export function checkSeed(n: number | undefined): number {
  if (n === undefined) return DEFAULT_SEED;
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new NfrError('INVALID_INPUT', `seed ${n}: expected a whole number from 0 to 4294967295`);
  return n;
}

export function checkOutDir(dir: string | undefined): string {
  if (dir === undefined || dir.trim() === '') throw new NfrError('USAGE', 'an output directory is required (--out DIR)');
  return dir;
}

/** Days after 1970-01-01 of a YYYY-MM-DD date. */
export function epochDay(date: string): number {
  return Math.round(Date.parse(`${date}T00:00:00Z`) / 86_400_000);
}

const dayStrings = new Map<number, string>();

/** The YYYY-MM-DD of a day number (memoised: generated dates fall in a few thousand days). */
export function dayString(day: number): string {
  let s = dayStrings.get(day);
  if (s === undefined) {
    s = new Date(day * 86_400_000).toISOString().slice(0, 10);
    if (dayStrings.size < 100_000) dayStrings.set(day, s);
  }
  return s;
}

export function summarizeFiles(kind: SampleSummary['kind'], outDir: string, date: string, seed: number | null, controls: number, files: readonly SampleFile[], startedAt: number): SampleSummary {
  return { kind, out_dir: outDir, date, seed, controls, files, total_bytes: files.reduce((s, f) => s + f.bytes, 0), duration_ms: Date.now() - startedAt };
}
