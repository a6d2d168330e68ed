/**
 * The audit trail (`nfr_audit` in the control database): every state-changing action, who asked
 * for it (a token's name and role, or `cli` and the OS user), what, when, from where, and how it
 * ended. An action that queues a job is linked to it and ends with it (a trigger on `nfr_job`,
 * control migration 0008). Never a token: callers pass names, and parameters pass through
 * `auditParams`, which drops anything that looks like a secret.
 *
 * To record an action: routes declare `config: { audit: '<area>.<verb>' }` (server/audit.ts does
 * the rest); anything else calls `auditStart` and then `auditEnd` on what it answers.
 */
import { hostname, userInfo } from 'node:os';
import type pg from 'pg';
import { z } from 'zod';
import { NfrError } from '../errors.js';

export type AuditStatus = 'started' | 'succeeded' | 'failed';

export interface AuditActor {
  /** `token`: an API token; `cli`: the command line; `server`: the server itself (a schedule). */
  readonly kind: 'token' | 'cli' | 'server';
  /** The token's name (never the token), the OS user, or the schedule. */
  readonly name: string;
  readonly role: string | null;
}

export interface AuditStart {
  readonly actor: AuditActor;
  /** What was done, `<area>.<verb>`: `snapshot.restore`, `ingest.controls`, `schedule.create`. */
  readonly action: string;
  /** What it was done to: a snapshot id, an upload id, a job id; null when nothing in particular. */
  readonly target?: string | null;
  /** The request's parameters; secrets are dropped (auditParams). */
  readonly params?: Record<string, unknown>;
  /** Where the request came from: the client's IP (API) or null (CLI: `host` says it). */
  readonly clientIp?: string | null;
  readonly requestId?: string | null;
  /** The job the action queued, when it is known at the start. */
  readonly jobId?: string | null;
}

export interface AuditEnd {
  readonly status: 'succeeded' | 'failed';
  readonly errorCode?: string | null;
  /** Filled in when it became known with the answer (a snapshot id the action reserved). */
  readonly target?: string | null;
}

/**
 * One row of the trail, as `nfr audit --json` and `GET /api/v2/audit` answer it. The API's
 * response schema is generated from this (server/response-schemas.ts).
 */
export const auditEntrySchema = z.object({
  audit_id: z.string().describe('increasing id of the entry'),
  at: z.string().describe('when the action started (ISO 8601)'),
  finished_at: z.string().nullable().describe('when it ended; null while it runs'),
  actor_kind: z.enum(['token', 'cli', 'server']).describe('token: an API token; cli: the command line; server: the server itself'),
  actor_name: z.string().describe("the token's name (never the token), or the OS user for cli"),
  actor_role: z.string().nullable().describe("the token's role; null for cli"),
  action: z.string().describe('what was done: snapshot.create, snapshot.restore, ingest.controls, ...'),
  target: z.string().nullable().describe('what it was done to: a snapshot or upload id'),
  params: z.record(z.string(), z.unknown()).describe('the parameters given, without secrets'),
  client_ip: z.string().nullable().describe("the client's address (API); null for cli"),
  host: z.string().describe('the machine that did it (the server, or where the CLI ran)'),
  request_id: z.string().nullable().describe('the request id (x-request-id), to find its log lines'),
  status: z.enum(['started', 'succeeded', 'failed']).describe('started until it ends; a queued job ends it'),
  error_code: z.string().nullable().describe('the error code when it failed'),
  job_id: z.string().nullable().describe('the job it queued'),
});

export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** A page of the trail, newest first (`GET /api/v2/audit`; its response schema is generated from this). */
export const auditPageSchema = z.object({
  entries: z.array(auditEntrySchema),
  next_cursor: z.string().nullable().meta({ description: 'pass as cursor for the next (older) page; null on the last' }),
});
export type AuditPage = z.infer<typeof auditPageSchema>;

type Queryable = Pick<pg.ClientBase, 'query'> | Pick<pg.Pool, 'query'>;

/** The CLI's actor: `cli` and the OS user running it. */
export function cliActor(): AuditActor {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? `uid ${process.getuid?.() ?? 'unknown'}`;
  }
  return { kind: 'cli', name: user, role: null };
}

const SECRET_KEY = /token|password|passwd|secret|authorization|api_?key|credential|cookie/i;

/** Parameters as they may be recorded: secret-looking keys dropped at any depth, long strings cut. */
export function auditParams(params: unknown): Record<string, unknown> {
  const clean = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return v.length > 500 ? `${v.slice(0, 500)}…` : v;
    if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? String(v) : v;
    if (depth > 4) return '[nested]';
    if (Array.isArray(v)) return v.slice(0, 50).map((x) => clean(x, depth + 1));
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([k]) => !SECRET_KEY.test(k)).map(([k, x]) => [k, clean(x, depth + 1)]));
  };
  const out = clean(params, 0);
  return out !== null && typeof out === 'object' && !Array.isArray(out) ? (out as Record<string, unknown>) : {};
}

/** Records that an action started; answers its audit id. */
export async function auditStart(db: Queryable, start: AuditStart): Promise<string> {
  const r = await db.query<{ audit_id: string }>(
    `insert into nfr_audit (actor_kind, actor_name, actor_role, action, target, params, client_ip, host, request_id, job_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning audit_id::text`,
    [start.actor.kind, start.actor.name, start.actor.role, start.action, start.target ?? null, JSON.stringify(auditParams(start.params ?? {})), start.clientIp ?? null, hostname(), start.requestId ?? null, start.jobId ?? null],
  );
  return r.rows[0]!.audit_id;
}

/** Records how an action ended (one that queued no job, or whose job could not be queued). */
export async function auditEnd(db: Queryable, auditId: string, end: AuditEnd): Promise<void> {
  await db.query(
    `update nfr_audit set status = $2, error_code = $3, finished_at = now(), target = coalesce($4, target) where audit_id = $1 and status = 'started'`,
    [auditId, end.status, end.status === 'failed' ? (end.errorCode ?? 'INTERNAL') : null, end.target ?? null],
  );
}

/**
 * Links an action to the job it queued. If the job has already ended, the action ends with it
 * here; otherwise the job's end does it (the trigger). The job's row is locked while this looks,
 * so the job cannot end in between unseen. Run it in a transaction (control-db's inTransaction).
 */
export async function auditJob(client: Pick<pg.ClientBase, 'query'>, auditId: string, jobId: string, target: string | null): Promise<void> {
  const job = await client.query<{ status: string; code: string | null }>(`select status, error ->> 'code' as code from nfr_job where job_id = $1 for update`, [jobId]);
  const status = job.rows[0]?.status;
  const ended = status === 'completed' ? 'succeeded' : status === 'failed' || status === 'cancelled' ? 'failed' : 'started';
  await client.query(
    `update nfr_audit set job_id = $2, target = coalesce($3, target), status = $4, error_code = $5, finished_at = case when $4 = 'started' then null else now() end
      where audit_id = $1 and status = 'started'`,
    [auditId, jobId, target, ended, ended === 'failed' ? (job.rows[0]?.code ?? status?.toUpperCase() ?? null) : null],
  );
}

const DEFAULT_LIMIT = 50;
export const MAX_AUDIT_LIMIT = 1000;

export const auditQuerySchema = z.object({
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.number().int().min(1).max(MAX_AUDIT_LIMIT).optional(),
  cursor: z.string().regex(/^\d{1,18}$/).optional(),
});

export type AuditQuery = z.infer<typeof auditQuerySchema>;

interface AuditRow extends Omit<AuditEntry, 'at' | 'finished_at'> {
  at: Date;
  finished_at: Date | null;
}

/**
 * The trail, newest first: entries since `since` (ISO 8601), at most `limit`, after `cursor` (the
 * `next_cursor` of the page before). Answers `next_cursor` null on the last page.
 */
export async function listAudit(db: Queryable, query: AuditQuery = {}): Promise<AuditPage> {
  const limit = query.limit ?? DEFAULT_LIMIT;
  // Ordered by the bigint column, named with its table: a bare `audit_id` in ORDER BY is the
  // output column, the text, which put entry 9 before 26 and 2 before 19.
  const r = await db.query<AuditRow>(
    `select audit_id::text, at, finished_at, actor_kind, actor_name, actor_role, action, target, params, client_ip, host, request_id, status, error_code, job_id::text
       from nfr_audit
      where ($1::timestamptz is null or at >= $1) and ($2::bigint is null or audit_id < $2)
      order by nfr_audit.audit_id desc
      limit $3`,
    [query.since ?? null, query.cursor ?? null, limit + 1],
  );
  const rows = r.rows.slice(0, limit);
  return {
    entries: rows.map((row) => ({ ...row, at: row.at.toISOString(), finished_at: row.finished_at?.toISOString() ?? null })),
    next_cursor: r.rows.length > limit ? (rows[rows.length - 1]?.audit_id ?? null) : null,
  };
}

/** Reads `--since`/`since`: ISO 8601, or a duration back from now (`30m`, `24h`, `7d`). */
export function parseSince(value: string, what: string): string {
  const ago = /^(\d{1,6})([smhd])$/.exec(value.trim());
  if (ago) {
    const seconds = Number(ago[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[ago[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(Date.now() - seconds * 1000).toISOString();
  }
  const parsed = Date.parse(value);
  if (!/^\d{4}-\d\d-\d\d/.test(value.trim()) || Number.isNaN(parsed)) {
    throw new NfrError('INVALID_INPUT', `${what} ${JSON.stringify(value)}: expected an ISO 8601 time (2026-12-06 or 2026-12-06T10:00:00Z) or a duration back from now (30m, 24h, 7d)`);
  }
  return new Date(parsed).toISOString();
}
