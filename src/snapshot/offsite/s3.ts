/**
 * The S3 client of the offsite repository, and what its failures mean. Endpoint and region come
 * from the configuration (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION); credentials from
 * the SDK's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the shared credentials and
 * config files, AWS_PROFILE, ...), so nothing secret passes through nfr's own configuration.
 */
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { OffsiteConfig } from '../../config.js';
import { messageOf, NfrError } from '../../errors.js';
import { describeRepository } from './repository.js';

export { describeRepository };

export function createS3Client(cfg: OffsiteConfig): S3Client {
  // The SDK warns on every process under Node 22 that its future releases will need Node 22;
  // that is for nfr's maintainers, not for an operator's terminal. The SDK reads this variable
  // when the client is constructed, and only for that warning.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new S3Client({
    region: cfg.region ?? defaultRegion,
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    forcePathStyle: cfg.forcePathStyle,
    // Checksums only where S3 requires them: S3-compatible stores such as Swift answer the SDK's
    // default CRC32 trailer (aws-chunked) with 501, and they do not check x-amz-checksum-* anyway:
    // nfr checks every object itself, against the manifest's SHA-256, after upload.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
  });
  // The SDK hashes every part it uploads to sign its payload, and the store hashes it again to
  // check that signature: two SHA-256 passes over every byte (on this test machine, a sixth of
  // an upload's CPU) that nfr never relies on, since it hashes each file itself on the way up
  // and reads every object back against the manifest's SHA-256. The headers stay signed.
  client.middlewareStack.add(
    (next, context) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (UNSIGNED_BODIES.has(context.commandName ?? '') && request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'nfrUnsignedPayload' },
  );
  return client;
}

/** Commands whose bodies are snapshot data, checked by nfr's own read-back. */
const UNSIGNED_BODIES = new Set(['PutObjectCommand', 'UploadPartCommand']);

/**
 * The region without AWS_REGION: the SDK's own lookup (AWS_PROFILE's section of the shared config
 * file), else us-east-1, which S3-compatible stores accept whatever they are.
 */
async function defaultRegion(): Promise<string> {
  const probe = new S3Client({});
  try {
    return await probe.config.region();
  } catch {
    return 'us-east-1';
  } finally {
    probe.destroy();
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'TimeoutError', 'RequestTimeout']);
const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'CredentialsProviderError', 'InvalidToken', 'ExpiredToken', 'Forbidden']);

/** Turns an SDK failure into the error an operator can act on, naming the bucket and endpoint. */
export function offsiteError(err: unknown, cfg: OffsiteConfig, doing: string): NfrError {
  if (err instanceof NfrError) return err;
  const e = err as { name?: string; code?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  // A HEAD answer has no body, so the SDK names its error 'Unknown': the status says more.
  const code = [e.Code, e.code, e.name].find((c) => c && c !== 'Unknown') ?? '';
  const where = describeRepository(cfg);
  if (UNREACHABLE.has(code) || UNREACHABLE.has(e.name ?? '') || (status === undefined && !DENIED.has(code)) || (status !== undefined && status >= 500)) {
    return new NfrError('OFFSITE_UNREACHABLE', `offsite repository ${where} does not answer (${status ? `HTTP ${status} ` : ''}${code || messageOf(err)}) while ${doing}; check the endpoint (AWS_ENDPOINT_URL_S3) and that the store is up`, { cause: err });
  }
  if (DENIED.has(code) || status === 401 || status === 403) {
    return new NfrError('OFFSITE_DENIED', `offsite repository ${where} refused the credentials (${code || `HTTP ${status}`}) while ${doing}; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the shared credentials file)`, { cause: err });
  }
  if (code === 'NoSuchBucket' || code === 'NotFound' || status === 404) {
    return new NfrError('OFFSITE_NO_BUCKET', `offsite repository bucket "${cfg.bucket}" does not exist at ${cfg.endpoint ?? 'AWS S3'} (${doing}); create it, or correct NFR_S3_REPOSITORY`, { cause: err });
  }
  return new NfrError('TOOL_FAILED', `offsite repository ${where} failed while ${doing}: ${code ? `${code}: ` : ''}${messageOf(err)}`, { cause: err });
}

/** Checks that the bucket exists and the credentials are accepted. */
export async function checkBucket(client: S3Client, cfg: OffsiteConfig): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: cfg.bucket }));
  } catch (err) {
    throw offsiteError(err, cfg, 'checking the bucket');
  }
}
