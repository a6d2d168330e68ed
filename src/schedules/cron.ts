/**
 * Cron expressions with an IANA time zone: checked when a schedule is added (five fields, every
 * value in range, a zone Intl knows), and asked for the ticks in a span of time. cron-parser
 * does the calendar arithmetic, daylight-saving changes included.
 */
import parser from 'cron-parser';
import { NfrError } from '../errors.js';

export interface CronSpec {
  readonly cron: string;
  readonly tz: string;
}

/** The zone as Intl spells it, or INVALID_INPUT naming what was given. */
export function checkTimeZone(tz: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    throw new NfrError('INVALID_INPUT', `tz "${tz}" (--tz; tz in the API) is not a time zone this system knows: use an IANA name such as Europe/London, America/New_York or UTC`);
  }
}

/** Throws INVALID_INPUT saying what is wrong with the expression. */
export function checkCron(cron: string, tz: string): void {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new NfrError('INVALID_INPUT', `cron "${cron}" (--cron; cron in the API) has ${fields.length} field(s); a schedule needs 5: minute hour day-of-month month day-of-week, e.g. "0 9-17 * * 1-5" (hourly, 9:00 to 17:00, Monday to Friday)`);
  }
  try {
    parser.parseExpression(cron, { tz }).next();
  } catch (err) {
    throw new NfrError('INVALID_INPUT', `cron "${cron}" (--cron; cron in the API) is not a valid cron expression: ${(err as Error).message} (fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-7)`);
  }
}

/** The first tick strictly after `after`. */
export function nextTick(spec: CronSpec, after: Date): Date {
  return parser.parseExpression(spec.cron, { tz: spec.tz, currentDate: after }).next().toDate();
}

/** Ticks strictly after `after` and at or before `until`, oldest first, at most `limit` (the newest kept). */
export function ticksBetween(spec: CronSpec, after: Date, until: Date, limit = 10_000): { ticks: Date[]; more: number } {
  if (until <= after) return { ticks: [], more: 0 };
  const it = parser.parseExpression(spec.cron, { tz: spec.tz, currentDate: after, endDate: until });
  const ticks: Date[] = [];
  let more = 0;
  while (it.hasNext()) {
    ticks.push(it.next().toDate());
    if (ticks.length > limit) {
      ticks.shift();
      more++;
    }
  }
  return { ticks, more };
}

/** "2026-12-06 09:00" in the zone: how a scheduled snapshot's name says when it was taken. */
export function localDateTime(at: Date, tz: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}
