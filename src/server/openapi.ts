/**
 * The finishing touches of the OpenAPI document @fastify/swagger generates from the route
 * schemas, so that generated clients and linters (`redocly lint`, recommended rules) accept it:
 * a server, a licence, an operationId per operation, the controls upload's multipart body,
 * request bodies marked optional where an empty body works, and the 4xx every route can answer.
 */
import { ERROR_BODY } from './schemas.js';

type Json = Record<string, unknown>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

/** `GET /api/v2/devdata/snapshots/{id}/restore-plan` → `getDevdataSnapshotsByIdRestorePlan`. */
export function operationId(method: string, path: string): string {
  const words = path
    .replace(/^\/api\/v2\//, '/')
    .split('/')
    .filter(Boolean)
    .flatMap((seg) => (seg.startsWith('{') ? ['by', ...seg.slice(1, -1).split('_')] : seg.split(/[-_.]/)));
  return method.toLowerCase() + words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/** The controls upload: one CSV in the multipart field `file`. */
const UPLOAD_BODY = {
  required: true,
  content: {
    'multipart/form-data': {
      schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary', description: 'the controls CSV (UTF-8, RFC 4180, a header row)' } } },
    },
  },
};

const ANY_4XX = { description: 'Malformed request, headers too large (431) or a wrong method (405)', content: { 'application/json': { schema: ERROR_BODY } } };

export function finishOpenApi(doc: Json): Json {
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>;
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      op.operationId ??= operationId(method, path);
      const body = op.requestBody as { required?: boolean; content?: Record<string, { schema?: { required?: unknown[] } }> } | undefined;
      // A POST whose fields are all optional accepts an empty body (README): say so.
      if (body?.content && Object.values(body.content).every((c) => !c.schema?.required?.length)) body.required = false;
      if (path === '/api/v2/pipelines/controls/ingest' && method === 'post') op.requestBody = UPLOAD_BODY;
      const responses = (op.responses ??= {}) as Record<string, unknown>;
      if (path === '/metrics') {
        responses['401'] ??= { description: 'Missing or unknown token', content: { 'application/json': { schema: ERROR_BODY } } };
        responses['403'] ??= { description: 'The token lacks the role', content: { 'application/json': { schema: ERROR_BODY } } };
      }
      if (!Object.keys(responses).some((code) => code.startsWith('4'))) responses['4XX'] = ANY_4XX;
    }
  }
  return {
    ...doc,
    info: { ...(doc.info as Json), license: { name: 'Proprietary (UNLICENSED)' } },
    servers: [{ url: '/', description: 'the nfr serve instance that serves this document' }],
  };
}
