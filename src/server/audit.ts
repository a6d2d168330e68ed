/**
 * The audit trail at the HTTP edge: a route that changes state says so in its config
 * (`config: { role: 'admin', audit: 'snapshot.restore' }`), and every request to it is recorded
 * once it passed auth and validation: who (the token's name and role), what (the action, the
 * target id, the body and query without secrets), from where (client IP, request id), and how it
 * ended — at once for a route that answers the outcome, or when its job ends for one that
 * answers 202 with a `job_id`. Nothing else is needed in a route.
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { auditEnd, auditJob, auditStart } from '../jobs/audit.js';
import { inTransaction } from '../jobs/control-db.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The audit row of this request, when its route is audited. */
    auditId?: string;
  }
  interface FastifyContextConfig {
    /**
     * The action to record for this route (`<area>.<verb>`), or a function answering it for
     * this request (undefined: nothing to record, e.g. a prune that only previews).
     */
    audit?: string | ((request: FastifyRequest) => string | undefined);
  }
}

/** `pool`: sessions on the control database. */
export function registerAuditing(app: FastifyInstance, pool: pg.Pool): void {
  app.addHook('preHandler', async (request) => {
    const spec = request.routeOptions.config?.audit;
    const action = typeof spec === 'function' ? spec(request) : spec;
    if (action === undefined) return;
    const params = request.params as Record<string, unknown> | undefined;
    const body = request.body !== null && typeof request.body === 'object' && !Array.isArray(request.body) ? (request.body as Record<string, unknown>) : {};
    const query = request.query !== null && typeof request.query === 'object' ? (request.query as Record<string, unknown>) : {};
    const start = {
      actor: { kind: 'token' as const, name: request.tokenName ?? 'unknown', role: request.role ?? null },
      action,
      target: [params?.id, params?.job_id, params?.name, body.name].find((v): v is string => typeof v === 'string') ?? null,
      params: { ...query, ...body },
      clientIp: request.ip,
      requestId: request.id,
    };
    try {
      request.auditId = await auditStart(pool, start);
    } catch (err) {
      // The control database is down: jobs cannot be queued either (the route answers 503 naming
      // it), and what is answered on the spot goes ahead, its record kept in the log instead.
      request.log.error({ err, audit: { ...start, params: undefined } }, `could not record ${action} in the audit trail`);
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const auditId = request.auditId;
    if (auditId === undefined) return payload;
    let answer: Record<string, unknown> = {};
    if (typeof payload === 'string') {
      try {
        answer = JSON.parse(payload) as Record<string, unknown>;
      } catch {
        answer = {};
      }
    }
    const target = typeof answer.snapshot_id === 'string' ? answer.snapshot_id : typeof answer.upload_id === 'string' ? answer.upload_id : null;
    try {
      if (reply.statusCode >= 400) {
        const error = answer.error as { code?: unknown } | undefined;
        await auditEnd(pool, auditId, { status: 'failed', errorCode: typeof error?.code === 'string' ? error.code : `HTTP_${reply.statusCode}`, target });
      } else if (reply.statusCode === 202 && typeof answer.job_id === 'string') {
        // Queued: the job's end ends the action (and may have already).
        const jobId = answer.job_id;
        await inTransaction(pool, (client) => auditJob(client, auditId, jobId, target));
      } else {
        await auditEnd(pool, auditId, { status: 'succeeded', target });
      }
    } catch (err) {
      // The action has happened; its outcome not being written is the operator's to know.
      request.log.error({ err, audit_id: auditId }, 'could not record the outcome in the audit trail');
    }
    return payload;
  });
}
