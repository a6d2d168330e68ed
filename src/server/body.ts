/**
 * How request bodies are read, for every route at once: a POST whose fields are all optional
 * works with no body at all (`curl -X POST`, `requests.post(url)`), with an empty JSON body, and
 * with `{}`; malformed JSON is a 400 that says where it broke.
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { NfrError } from '../errors.js';

export function registerBodyParsing(app: FastifyInstance): void {
  // Fastify's own parser, kept for its prototype-poisoning protection (`__proto__` keys refused).
  const parseJson = app.getDefaultJsonParser('error', 'error') as (request: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void) => void;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // Content-Type: application/json with nothing after it (what some clients send for "no body").
    if (text.trim() === '') return done(null, {});
    parseJson(request, text, (err, value) => {
      if (!err) return done(null, value);
      done(new NfrError('INVALID_INPUT', `the request body is not valid JSON: ${jsonProblem(text, err)}; send a JSON object, or no body for the defaults`));
    });
  });

  // Only JSON (and multipart, for uploads) is read. Fastify's text/plain parser would hand a route
  // the body as a string, which validation then called "not a JSON object" even when it was one
  // (fetch() labels a string body text/plain): refused as the wrong type instead, saying which.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request) => {
    const headers = request.raw.headers;
    const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';
    // A body of zero bytes carries nothing to parse, whatever its Content-Type claims
    // (`curl -X POST -d ''` labels it form-urlencoded): it is no body, which the hook below turns
    // into {}. A body without a Content-Type (`requests.post(url, data=...)`, or Node's empty
    // chunked POST) is read as JSON, the only type these routes take besides multipart uploads.
    if (!hasBody) delete headers['content-type'];
    else if (headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  });

  app.addHook('preValidation', async (request) => {
    // No body on a route that takes one means "all defaults": validate {} instead of undefined,
    // so required fields are still reported by name and optional ones take their defaults.
    if (request.body === undefined && request.routeOptions.schema?.body !== undefined) request.body = {};
  });
}

/** Why JSON.parse refuses `text` (with the position it reports), or the parser's own reason. */
function jsonProblem(text: string, err: Error): string {
  try {
    JSON.parse(text);
  } catch (parseError) {
    return (parseError as Error).message;
  }
  // Valid JSON that Fastify's parser still refused: a `__proto__` or `constructor.prototype` key.
  return `${err.message} (keys named __proto__ or constructor are not accepted)`;
}

/**
 * Fastify's own refusals of a body, reworded with their reason: which Content-Type was sent and
 * what to send instead (415), and the limit a body went over (413). Other errors pass unchanged.
 */
export function explainBodyError(err: unknown, request: FastifyRequest): unknown {
  const code = (err as Partial<FastifyError>).code;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const sent = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().slice(0, 100);
    return new NfrError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${sent || '(none)'} is not accepted here: send the body as JSON with Content-Type: application/json (uploads: multipart/form-data with a field named "file"), or no body for the defaults`);
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = request.routeOptions.bodyLimit;
    return new NfrError('PAYLOAD_TOO_LARGE', `the request body is larger than the limit of ${limit} bytes for a JSON body; nothing of it was read`);
  }
  return err;
}
