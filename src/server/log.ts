/**
 * The server's log: pino (Fastify's own logger), JSON lines, one line per request with its
 * request id, and never a secret. Secrets are kept out twice: the request serializer writes no
 * headers at all, and every finished line is scrubbed before it is written (bearer tokens, the
 * configured API tokens, passwords in connection URLs, `password`/`token` fields), so an error
 * message that happens to quote one is masked too.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config.js';

export type { Logger } from 'pino';

/** What NFR_LOG_LEVEL accepts (pino's levels). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The response header (and accepted request header) carrying the request id. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** An incoming request id is kept when it is this plain and short; anything else is replaced. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id: the client's `x-request-id` when sane (a proxy's id joins the logs up), else a new UUID. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** Field names whose values are never logged, wherever they appear (pino's redact paths). */
const REDACT_PATHS = [
  'authorization',
  'password',
  'token',
  'apiKey',
  'api_key',
  'databaseUrl',
  'headers.authorization',
  'headers.cookie',
  '*.authorization',
  '*.password',
  '*.token',
  '*.apiKey',
  '*.api_key',
  '*.databaseUrl',
  '*.headers.authorization',
  '*.headers.cookie',
];

/**
 * Masks what must never reach a log line in a finished line: `Bearer <token>`, the password of
 * any `scheme://user:password@host`, and each exact secret given (the configured tokens).
 */
export function scrubber(secrets: readonly string[]): (line: string) => string {
  // Longest first, so a token that contains another is masked whole.
  const exact = [...new Set(secrets.filter((s) => s.length >= 4))].sort((a, b) => b.length - a.length);
  return (line) => {
    let out = line.replace(/(Bearer\s+)[^\s"\\]+/gi, '$1[Redacted]').replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:/@\s"\\]*:)[^@\s"\\]+@/g, '$1[Redacted]@');
    for (const secret of exact) {
      // A secret appears JSON-escaped inside the line: look for that form.
      const inJson = JSON.stringify(secret).slice(1, -1);
      if (out.includes(inJson)) out = out.split(inJson).join('[Redacted]');
    }
    return out;
  };
}

/** The secrets of a configuration, as they could appear verbatim in a message. */
export function configSecrets(config: Config): string[] {
  const secrets = config.apiTokens.map((t) => t.token);
  for (const key of [config.qdrant?.apiKey, config.embeddings?.apiKey]) if (key) secrets.push(key);
  if (config.databaseUrl) {
    try {
      const password = decodeURIComponent(new URL(config.databaseUrl).password);
      if (password) secrets.push(password);
    } catch {
      // Validated at start-up; a URL that does not parse has no password to find.
    }
  }
  return secrets;
}

/**
 * The server's logger at `level`, writing JSON lines to `destination` (stdout by default), with
 * the configuration's secrets scrubbed from every line.
 */
export function serverLogger(config: Config, destination: DestinationStream = pino.destination({ fd: 1, sync: true })): Logger {
  const scrub = scrubber(configSecrets(config));
  return pino(
    {
      level: config.logLevel,
      base: { pid: process.pid, hostname: undefined },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: scrub },
    },
    destination,
  );
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const PLAIN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/**
 * For a terminal: each JSON line as `12:00:01 INFO message key=value ...`. Anything that is not a
 * JSON object is written as it came.
 */
export function humanReadable(out: { write(s: string): unknown }): DestinationStream {
  return {
    write(line: string) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const time = typeof entry.time === 'string' ? entry.time.slice(11, 19) : '';
      const level = typeof entry.level === 'number' ? (LEVEL_NAMES[entry.level] ?? String(entry.level)) : String(entry.level ?? '').toUpperCase();
      const rest = Object.entries(entry)
        .filter(([k]) => !PLAIN_FIELDS.has(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(`${time} ${level.padEnd(5)} ${String(entry.msg ?? '')}${rest ? ` ${rest}` : ''}\n`);
    },
  };
}

/**
 * A destination that holds lines back until `open()`: `nfr serve --json` prints its start-up
 * object as the first line of stdout, and Fastify logs before that (listening).
 */
export function heldUntilOpen(target: { write(s: string): unknown }): DestinationStream & { open(): void } {
  let held: string[] | undefined = [];
  return {
    write(line: string) {
      if (held) held.push(line);
      else target.write(line);
    },
    open() {
      const lines = held ?? [];
      held = undefined;
      for (const line of lines) target.write(line);
    },
  };
}
