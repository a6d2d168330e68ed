/**
 * The blocked window as a client sees it: a loop that opens a NEW connection to the live database
 * and runs `select 1` every ~20 ms, and records the longest gap between successful queries.
 *
 * New connections, not one kept open, because that is what the swap affects: it refuses
 * connections (SQLSTATE 55000) and ends existing sessions (57P01), and an application's pool
 * recovers by reconnecting. The gap includes the connection set-up time (SCRAM authentication),
 * so the probe's resolution is its normal gap, which is reported alongside.
 */
import pg from 'pg';
import { clientConfig, type PgTarget } from '../../src/postgres/connection.js';

export interface ProbeResult {
  /** Longest time between two successful queries, ms. */
  readonly longest_gap_ms: number;
  /** When the longest gap ended, ms after the probe started. */
  readonly longest_gap_end_ms: number;
  /** Failed attempts inside the longest gap, by code: tells the swap's window from a slow spell. */
  readonly longest_gap_errors: Readonly<Record<string, number>>;
  /** Median time between successful queries: the probe's resolution, ms. */
  readonly typical_gap_ms: number;
  readonly successes: number;
  readonly failures: number;
  /** SQLSTATE (or Node error code) of the failures, with counts. */
  readonly errors: Readonly<Record<string, number>>;
}

const INTERVAL_MS = 20;

export function startProbe(target: PgTarget): { readonly startedAt: number; stop(): Promise<ProbeResult> } {
  const startedAt = performance.now();
  let running = true;
  const gaps: number[] = [];
  const errors: Record<string, number> = {};
  let failures = 0;
  let lastOk: number | undefined;
  let sinceOk: Record<string, number> = {};
  let longest = { ms: 0, end: 0, errors: {} as Record<string, number> };

  const loop = (async () => {
    while (running) {
      const began = performance.now();
      const client = new pg.Client({ ...clientConfig(target, 'nfr bench probe'), connectionTimeoutMillis: 5_000 });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.query('select 1');
        const now = performance.now();
        if (lastOk !== undefined) {
          const gap = now - lastOk;
          gaps.push(gap);
          if (gap > longest.ms) longest = { ms: gap, end: now - startedAt, errors: sinceOk };
        }
        lastOk = now;
        sinceOk = {};
      } catch (err) {
        failures++;
        const code = (err as { code?: string }).code ?? 'unknown';
        errors[code] = (errors[code] ?? 0) + 1;
        sinceOk[code] = (sinceOk[code] ?? 0) + 1;
      } finally {
        await client.end().catch(() => {});
      }
      const wait = INTERVAL_MS - (performance.now() - began);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();

  return {
    startedAt,
    async stop() {
      running = false;
      await loop;
      const sorted = [...gaps].sort((a, b) => a - b);
      return {
        longest_gap_ms: Math.round(longest.ms),
        longest_gap_end_ms: Math.round(longest.end),
        longest_gap_errors: longest.errors,
        typical_gap_ms: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
        successes: gaps.length + (lastOk === undefined ? 0 : 1),
        failures,
        errors,
      };
    },
  };
}
