/**
 * `POST /api/v2/pipelines/controls/ingest` (multipart field `file`): the upload is streamed to
 * disk (bounded by NFR_MAX_UPLOAD_MB), stored as `controls/UPL-YYYY-NNNN.csv` and recorded before
 * the answer `{job_id, upload_id}`; ingestion, enrichment and the optional auto-snapshot run as
 * the job (pipeline/tasks.ts), on whichever server takes it: DATA_INGESTED_PATH is shared.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import { diskFull, messageOf, NfrError } from '../../errors.js';
import { acceptControlsUpload } from '../../ingest/controls.js';
import { incomingDir, newPartFile } from '../../ingest/incoming.js';
import { markUploadFailed } from '../../ingest/uploads.js';
import { withPoolClient } from '../../postgres/pool.js';
import { ensureDir } from '../../util/fs.js';
import type { ServerDeps } from '../app.js';
import { ERROR_BODY, ERROR_RESPONSES, JOB_ACCEPTED } from '../schemas.js';
import { checkControlsUpload } from '../../ingest/upload-check.js';
import { queueJob } from '../../pipeline/tasks.js';
import { jobAccepted } from './jobs.js';

interface UploadQuery {
  skip_invalid?: 'true' | 'false';
  close_missing?: 'true' | 'false';
}

export function registerControlsUpload(app: FastifyInstance, deps: ServerDeps): void {
  const { ctx, jobs, config } = deps;
  app.post<{ Querystring: UploadQuery }>(
    '/api/v2/pipelines/controls/ingest',
    {
      config: { role: 'operator', audit: 'ingest.controls' },
      schema: {
        summary: 'Upload a controls CSV (multipart field "file"); answers {job_id, upload_id} at once',
        consumes: ['multipart/form-data'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { skip_invalid: { type: 'string', enum: ['true', 'false'] }, close_missing: { type: 'string', enum: ['true', 'false'] } },
        },
        response: { 202: JOB_ACCEPTED, 413: ERROR_BODY, 415: ERROR_BODY, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw new NfrError('UNSUPPORTED_MEDIA_TYPE', 'send the CSV as multipart/form-data with a field named "file"');
      }
      if (!/;\s*boundary\s*=/i.test(request.headers['content-type'] ?? '')) {
        throw new NfrError('INVALID_INPUT', 'Content-Type multipart/form-data has no boundary parameter, so the parts cannot be found; let the HTTP client build the body (curl -F file=@controls.csv)');
      }
      await ensureDir(config.dataIngestedPath);
      await ensureDir(incomingDir(config.dataIngestedPath));
      const temp = newPartFile(config.dataIngestedPath);
      let filename: string | undefined;
      let stored;
      try {
        // Every part is read, so a second file is refused instead of silently dropped; the first
        // is streamed to disk as it arrives and stored only once the body has ended. A refusal
        // found mid-body is thrown once the body has been read to its end (the rest discarded):
        // answered earlier, the connection closed under a client still sending, which then saw
        // its request fail ("fetch failed", ECONNRESET) instead of the answer.
        let refusal: NfrError | undefined;
        for await (const part of request.parts()) {
          if (refusal !== undefined) {
            if (part.type === 'file') part.file.resume();
            continue;
          }
          // A text field is never read: refused by name, so `-F skip_invalid=true` is not silently
          // ignored while the upload runs with the default policy (the options are query parameters).
          if (part.type === 'field') {
            const option = part.fieldname === 'skip_invalid' || part.fieldname === 'close_missing';
            refusal = new NfrError('INVALID_INPUT', `multipart field "${part.fieldname.slice(0, 64)}" is not read${option ? `: pass ${part.fieldname} as a query parameter (?${part.fieldname}=true)` : '; send only the CSV, in a field named "file"'}; nothing was stored`);
            continue;
          }
          if (part.fieldname !== 'file') {
            part.file.resume();
            refusal = new NfrError('INVALID_INPUT', `unexpected multipart field "${part.fieldname}": send the CSV in a field named "file"; nothing was stored`);
            continue;
          }
          if (filename !== undefined) {
            part.file.resume();
            refusal = new NfrError('INVALID_INPUT', 'the request has more than one file: send one controls CSV per upload, in the field "file"; nothing was stored');
            continue;
          }
          filename = path.basename(part.filename || 'upload.csv');
          // Over the limit the stream is truncated (413 below) and the partial file goes.
          await pipeline(part.file, createWriteStream(temp, { mode: 0o600 }));
          if (part.file.truncated) {
            throw new NfrError('PAYLOAD_TOO_LARGE', `the upload is larger than the limit of ${config.maxUploadBytes} bytes (NFR_MAX_UPLOAD_MB); nothing was stored`);
          }
        }
        if (refusal !== undefined) throw refusal;
        if (filename === undefined) throw new NfrError('INVALID_INPUT', 'the request has no file: send the CSV in a multipart field named "file"');
        // Empty, binary or headerless files are refused now, not by a job that fails later.
        await checkControlsUpload(temp, filename);
        stored = await acceptControlsUpload(ctx, temp, filename);
      } catch (err) {
        // The rest of the body may still be on its way, unread: close the connection after the
        // answer, so the client's next request does not queue behind it on a kept-alive socket.
        void reply.header('connection', 'close');
        throw diskFull(err, temp) ?? multipartError(err);
      } finally {
        await rm(temp, { force: true });
      }
      const upload = stored;
      const job = await queueJob(jobs, 'ingest.controls', {
        upload_id: upload.uploadId,
        filename,
        skip_invalid: request.query.skip_invalid === 'true',
        close_missing: request.query.close_missing === 'true',
        stored_file: upload.relativePath,
        size_bytes: upload.sizeBytes,
        sha256: upload.sha256,
      }).catch(async (err: unknown) => {
        // No job will process it: the upload's record says so instead of staying pending.
        const message = `no job could be queued for it: ${messageOf(err)}`;
        await withPoolClient(deps.jobs.pool, (c) => markUploadFailed(c, upload.uploadId, 0, [{ line: null, field: null, message }])).catch(() => {});
        throw err;
      });
      return reply.code(202).send({ ...jobAccepted(job, `/api/v2/pipelines/jobs/${job.job_id}`), upload_id: stored.uploadId });
    },
  );
}

/**
 * A failure while reading the multipart body: the parser's complaints about the body (no closing
 * boundary, a part cut off, garbage) are the client's error, 400 with the parser's reason. Errors
 * that carry their own status (@fastify/multipart's limits, a client that hung up) keep it; errors
 * of the disk the file is written to (a `syscall` error) stay server errors.
 */
function multipartError(err: unknown): unknown {
  if (err instanceof NfrError) return err;
  const e = err as { statusCode?: unknown; syscall?: unknown; message?: unknown };
  if (typeof e?.statusCode === 'number' || typeof e?.syscall === 'string') return err;
  return new NfrError('INVALID_INPUT', `malformed multipart/form-data body: ${String(e?.message ?? err)}; nothing was stored. Send the CSV in a multipart field named "file" (curl -F file=@controls.csv)`, { cause: err });
}
