/**
 * The HTTP service: Fastify with JSON-schema-validated requests and responses, an OpenAPI
 * document generated from the same schemas, bearer-token auth, and one error shape for every
 * failure: `{error: {code, message}}` with the status from the error-code table.
 */
import fastifyMultipart from '@fastify/multipart';
import fastifySwagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Config } from '../config.js';
import { isConnectionFailure, NfrError, sqlState, toNfrError } from '../errors.js';
import type { JobRunner } from '../jobs/runner.js';
import type { JobStore } from '../jobs/store.js';
import type { ServerMetrics } from '../pipeline/metrics.js';
import type { Context } from '../runtime/context.js';
import { NFR_VERSION } from '../version.js';
import { authenticate, authorize, type Role, type TokenTable } from './auth.js';
import { explainBodyError, registerBodyParsing } from './body.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerPipelineRoutes } from './routes/pipelines.js';
import { registerScheduleRoutes } from './routes/schedules.js';
import { registerSnapshotRoutes } from './routes/snapshots.js';
import { cachedSignature } from './signature.js';
import { registerConsole, SECURITY_HEADERS } from './console.js';
import { finishOpenApi } from './openapi.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerAuditing } from './audit.js';
import { registerControlRoutes } from './routes/controls.js';
import { REQUEST_ID_HEADER, requestId, type Logger } from './log.js';
import { schemaErrorFormatter } from './validation.js';

export interface ServerDeps {
  readonly config: Config;
  /** Snapshot context whose lock wait suits queued jobs. */
  readonly ctx: Context;
  /**
   * The same, with the configured lock wait (0 by default): requests answered on the spot
   * (delete, prune, deep verify) get 409 while another operation runs instead of hanging.
   */
  readonly requestCtx: Context;
  readonly jobs: JobStore;
  readonly runner: JobRunner;
  /** Pool on the live database; it reconnects by itself after a restore swaps the database. */
  readonly pool: pg.Pool;
  readonly tokens: TokenTable;
  /** The built console (default: the package's web/dist). */
  readonly consoleDir?: string;
  /** The server's log (log.ts): one line per request, 5xx errors with their cause. */
  readonly log: Logger;
  /** The server's own metrics registry (`GET /metrics`). */
  readonly metrics: ServerMetrics;
}

declare module 'fastify' {
  interface FastifyRequest {
    role?: Role;
    /** The presented token's name (API_TOKENS), for the audit trail and the log. */
    tokenName?: string;
  }
  interface FastifyContextConfig {
    /** Minimum role for the route; absent means public (only /health and the console's files). */
    role?: Role;
    /** The console's static files: the page itself holds no data, the API behind it does. */
    public?: boolean;
  }
}

export async function buildApp(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // One line per request (onResponse below) instead of Fastify's two, with the route pattern.
    // Through a LogController: the top-level options print a deprecation warning on stderr.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    requestIdHeader: false,
    genReqId: requestId,
    bodyLimit: 1024 * 1024,
    // Unknown fields are errors, not silently dropped; types are not coerced into something else.
    // verbose: the failed schema and value reach schemaErrorFormatter, which words the error.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, verbose: true } },
    schemaErrorFormatter,
    return503OnClosing: true,
    // What the router refuses before any route runs (a path segment over maxParamLength, a URL
    // that does not decode) gets the one error body, without echoing the path back.
    frameworkErrors: (err, request, reply) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void (reply as FastifyReply)
        .code(tooLong ? 414 : 400)
        .header(REQUEST_ID_HEADER, request.id)
        .send({ error: { code: 'INVALID_INPUT', message: tooLong ? 'a path segment is longer than 100 characters' : 'the URL is not valid (a bad percent-escape?)' } });
    },
    // Requests Node's HTTP parser refuses (headers too large: 431, malformed: 400) get the same
    // error body as everything else, and the connection is closed.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return;
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const status = tooLarge ? 431 : 400;
      const body = JSON.stringify({
        error: { code: 'INVALID_INPUT', message: tooLarge ? 'the request line or headers are too large (at most 16 KiB in all)' : `malformed HTTP request (${err.code ?? 'parse error'})` },
      });
      socket.end(`HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
  });

  const routes = routeTable(app);
  /** The console's page, once registered; unknown browser pages answer 404 with it. */
  let consoleIndex: Buffer | undefined;
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'nfr-connect API', version: NFR_VERSION, description: 'Snapshots, ingestion pipeline, vector search and jobs of nfr-connect.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    // Servers, licence, operationIds, the upload's body, optional bodies, 4xx: see openapi.ts.
    transformObject: (documentObject) => finishOpenApi('openapiObject' in documentObject ? (documentObject.openapiObject as Record<string, unknown>) : (documentObject.swaggerObject as Record<string, unknown>)) as never,
  });
  // Two files are let through so that the upload route can refuse the second with a reason.
  await app.register(fastifyMultipart, { limits: { fileSize: deps.config.maxUploadBytes, files: 2, fields: 10 } });
  registerBodyParsing(app);

  // First of all, so that refusals (401, 404) carry it too.
  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    deps.metrics.httpRequestDuration.observe({ method: request.method, route: route ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    // Probes and scrapes come every few seconds: their lines are for debugging only.
    const quiet = route === '/health' || route === '/metrics' || request.routeOptions.config?.public === true;
    request.log[quiet ? 'debug' : 'info'](
      { method: request.method, route: route ?? null, path: request.url.split('?')[0], status: reply.statusCode, duration_ms: Math.round(reply.elapsedTime * 10) / 10, role: request.role ?? null, token_name: request.tokenName ?? null },
      'request completed',
    );
  });

  app.addHook('onRequest', async (request) => {
    // A page the browser asks for that no route serves gets the console's own not-found view
    // (below), not a 401 for a token a browser never sends.
    if (isConsolePageRequest(request)) return;
    const needed = request.routeOptions.config?.role;
    if (needed === undefined && (request.routeOptions.url === '/health' || request.routeOptions.config?.public === true)) return;
    const caller = authenticate(deps.tokens, request.headers.authorization);
    request.role = caller.role;
    request.tokenName = caller.name;
    if (needed) authorize(caller.role, needed);
  });

  // On every response, API and console alike: no inline scripts, no framing, no sniffing.
  app.addHook('onSend', async (_request, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) void reply.header(name, value);
    return payload;
  });

  app.setNotFoundHandler((request, reply) => {
    const pathname = request.url.split('?')[0] ?? '/';
    // A path that exists with other methods is 405 with Allow, not 404: the client has the right
    // resource and the wrong verb.
    const allowed = routes.allowed(pathname);
    if (allowed.length > 0) {
      void reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send({ error: { code: 'METHOD_NOT_ALLOWED', message: `${request.method} is not allowed on ${pathname}; use ${allowed.join(' or ')}` } });
      return;
    }
    if (consoleIndex !== undefined && isConsolePageRequest(request)) {
      void reply.code(404).type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(consoleIndex);
      return;
    }
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${pathname}` } });
  });

  app.setErrorHandler((err: FastifyError | NfrError | Error, request, reply) => {
    const { status, body, retryAfter } = errorResponse(explainBodyError(err, request));
    // A server-side failure is the operator's to see (a full disk, a bug), with its cause; client
    // errors are the client's. 503 is a database briefly away (a restore's swap): a warning.
    // The log scrubs tokens and passwords from every line (log.ts).
    if (status >= 500) request.log[status === 503 ? 'warn' : 'error']({ err, status, code: body.error.code, path: request.url.split('?')[0] }, `answered ${status} ${body.error.code}`);
    if (retryAfter) void reply.header('Retry-After', String(retryAfter));
    if (status === 401) void reply.header('WWW-Authenticate', 'Bearer');
    void reply.code(status).send(body);
  });

  // Where clients look for it first (`/openapi.json`) and under the API prefix; like every
  // route but /health it needs a token (SPEC §7).
  for (const url of ['/openapi.json', '/api/v2/openapi.json']) {
    app.get(url, { config: { role: 'reader' }, schema: { hide: true } }, async () => app.swagger());
  }

  registerAuditing(app, deps.jobs.pool);
  const signature = cachedSignature(deps.pool);
  registerHealthRoutes(app, deps, signature);
  registerSnapshotRoutes(app, deps);
  registerJobRoutes(app, deps);
  registerScheduleRoutes(app, deps);
  registerPipelineRoutes(app, deps);
  registerControlRoutes(app, deps, signature);
  registerAuthRoutes(app);
  registerAuditRoutes(app, deps);
  consoleIndex = await registerConsole(app, deps.consoleDir);
  return app;
}

/**
 * A request no route serves that a browser makes for a page: GET or HEAD, HTML accepted, not
 * under /api/ (API clients get the JSON 404 whatever they accept).
 */
function isConsolePageRequest(request: FastifyRequest): boolean {
  if (!request.is404 || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
  const pathname = request.url.split('?')[0] ?? '/';
  if (pathname === '/api' || pathname.startsWith('/api/')) return false;
  return /\btext\/html\b/i.test(String(request.headers.accept ?? ''));
}

/** Maps any error to a status and the one error body shape. Never leaks a stack. */
export function errorResponse(err: unknown): { status: number; body: { error: { code: string; message: string } }; retryAfter?: number } {
  if (err instanceof NfrError) {
    const status = err.httpStatus;
    return { status, body: { error: { code: err.code, message: err.message } }, ...(status === 503 ? { retryAfter: 1 } : {}) };
  }
  const code = sqlState(err);
  if (code !== undefined && isConnectionFailure(code)) {
    // The live database is being swapped by a restore (or is restarting): try again shortly.
    return { status: 503, body: { error: { code: 'DATABASE', message: 'the database is briefly unavailable (a restore may be swapping it); retry shortly' } }, retryAfter: 1 };
  }
  const fe = err as Partial<FastifyError>;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const mapped =
      fe.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : fe.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : fe.statusCode === 404 ? 'NOT_FOUND' : 'INVALID_INPUT';
    return { status: fe.statusCode, body: { error: { code: mapped, message: fe.message ?? 'bad request' } } };
  }
  const e = toNfrError(err);
  if (e.code === 'DATABASE') return { status: 503, body: { error: { code: e.code, message: e.message } }, retryAfter: 1 };
  return { status: e.httpStatus, body: { error: { code: e.code, message: e.code === 'INTERNAL' ? 'internal error' : e.message } } };
}

/** Every route's method and path pattern, as registered, to answer which methods a path has. */
function routeTable(app: FastifyInstance): { allowed(pathname: string): string[] } {
  const entries: { method: string; pattern: RegExp }[] = [];
  app.addHook('onRoute', (route) => {
    const pattern = new RegExp(`^${route.url.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`);
    for (const method of [route.method].flat()) entries.push({ method, pattern });
  });
  return {
    allowed: (pathname) => [...new Set(entries.filter((e) => e.pattern.test(pathname)).map((e) => e.method))].sort(),
  };
}
