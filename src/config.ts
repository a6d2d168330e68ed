/**
 * Configuration: one pure function resolves flags > environment > `.env` > defaults, validates every
 * value and returns a frozen object. A bad value fails here, naming the variable and the expected form.
 */
import { readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { NfrError } from './errors.js';

/**
 * An integer setting. The range is checked on the digits' value before converting, so a huge
 * number gets the same message naming the range as any other out-of-range one (not zod's
 * "expected int to be <=9007199254740991").
 */
const intIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `an integer from ${min} to ${max}`)
    .refine((v) => v.replace(/^0+(?=\d)/, '').length <= String(max).length && Number(v) >= min && Number(v) <= max, `an integer from ${min} to ${max}`)
    .transform(Number);

/** An http(s) URL (other schemes parse as URLs but no client here can talk to them). */
const httpUrl = (form: string) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        const u = new URL(v);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        return false;
      }
    }, form);

const DURATION_UNITS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const MAX_DURATION_SECONDS = 365 * 86400;
const DURATION_FORM = `a duration: seconds (e.g. 86400), or a number with a unit s, m, h or d (e.g. 10s, 30m, 24h, 7d), at most 365d; 0 turns it off`;

/** A duration setting, as seconds: `86400`, `10s`, `30m`, `24h`, `7d`. */
const duration = z
  .string()
  .trim()
  .regex(/^\d{1,9}[smhd]?$/, DURATION_FORM)
  .transform((v) => Number(/^\d+/.exec(v)?.[0]) * DURATION_UNITS[(/[smhd]$/.exec(v)?.[0] ?? 's') as keyof typeof DURATION_UNITS])
  .refine((n) => n <= MAX_DURATION_SECONDS, DURATION_FORM);

const URL_FORM = 'a URL of the form postgresql://user:password@host:5432/dbname';

/**
 * The live database's URL. Shapes that URL parsers accept but mean something else are refused
 * here (`postgresql:/user:pw@host/db` has no host: it is all path), and so are percent-escapes
 * that cannot be decoded, which would otherwise fail later as an internal error.
 */
const postgresUrl = z
  .string()
  .trim()
  .superRefine((v, ctx) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: URL_FORM });
      return;
    }
    if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
      ctx.addIssue({ code: 'custom', message: `${URL_FORM} (the scheme must be postgresql: or postgres:)` });
    } else if (!u.hostname && !u.searchParams.get('host')) {
      ctx.addIssue({ code: 'custom', message: `${URL_FORM}: no host found (is a / missing after postgresql:?)` });
    } else {
      try {
        decodeURIComponent(u.username);
        decodeURIComponent(u.password);
        decodeURIComponent(u.pathname);
      } catch {
        ctx.addIssue({ code: 'custom', message: `${URL_FORM}, with valid percent-escapes: write special characters of the user or password as %XX (encodeURIComponent)` });
      }
    }
  });

const identifier = z.string().trim().regex(/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/, 'a PostgreSQL database or role name');

/** Environment variables the product reads, with their validators. Unset or empty means default. */
const ENV_SCHEMA = {
  DATABASE_URL: postgresUrl,
  NFR_HOME: z.string().trim().min(1),
  POSTGRES_BACKUP_PATH: z.string().trim().min(1),
  POSTGRES_BACKUP_PARALLEL_JOBS: intIn(1, 64),
  POSTGRES_BACKUP_COMPRESSION: intIn(0, 9),
  DATA_INGESTED_PATH: z.string().trim().min(1),
  CONTEXT_PROVIDERS_PATH: z.string().trim().min(1),
  // Checked here, not when a tool is first needed: a wrong directory would otherwise be passed
  // over silently for the system's binaries.
  PG_BIN_DIR: z
    .string()
    .trim()
    .min(1)
    .refine((dir) => statSync(dir, { throwIfNoEntry: false })?.isDirectory() === true, 'an existing directory of PostgreSQL programs (pg_dump, pg_restore, ...)'),
  NFR_MAINTENANCE_DB: identifier,
  NFR_EMBEDDED_PG_USER: identifier,
  NFR_SNAPSHOT_MAX_AGE_HOURS: intIn(1, 24 * 365),
  NFR_RETENTION_DAILY: intIn(0, 1000),
  NFR_RETENTION_WEEKLY: intIn(0, 1000),
  NFR_RETENTION_MONTHLY: intIn(0, 1000),
  NFR_LOCK_WAIT_SECONDS: intIn(0, 24 * 3600),
  NFR_SHUTDOWN_GRACE_SECONDS: intIn(0, 3600),
  NFR_CONTROL_DATABASE: identifier,
  NFR_HEARTBEAT_SECONDS: intIn(1, 60),
  NFR_WARM_MAX: intIn(0, 100),
  NFR_RECOVER_INTERVAL_SECONDS: intIn(0, 3600),
  NFR_VERIFY_INTERVAL: duration,
  NFR_WARM_SPARE: z.enum(['true', 'false', '1', '0', 'yes', 'no'], 'true or false'),
  NFR_INDEX_PATH: z.string().trim().min(1),
  NFR_INDEX_MEMORY_MB: intIn(0, 1024 * 1024),
  NFR_SEARCH_KEYWORD_WEIGHT: z
    .string()
    .trim()
    .regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/, 'a number from 0 to 1, such as 0.7')
    .transform(Number),
  QDRANT_URL: httpUrl('an http(s) URL such as http://localhost:6333'),
  QDRANT_API_KEY: z.string().trim().min(1),
  QDRANT_COLLECTION_PREFIX: z.string().trim().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - (at most 64)'),
  NFR_EMBEDDER: z.enum(['hash', 'glove'], 'glove (the default) or hash'),
  EMBEDDINGS_URL: httpUrl('an http(s) URL of an OpenAI-compatible API, e.g. http://localhost:8080/v1 or http://localhost:8080/v1/embeddings'),
  EMBEDDINGS_MODEL: z.string().trim().min(1),
  EMBEDDINGS_API_KEY: z.string().trim().min(1),
  NFR_MAX_UPLOAD_MB: intIn(1, 100_000),
  NFR_SCHEDULE_CHECK_SECONDS: intIn(1, 60),
  NFR_ALERT_WEBHOOK_URL: z
    .string()
    .trim()
    .refine((v) => v.split(',').every((u) => /^https?:\/\/[^\s,]+$/.test(u.trim()) && URL.canParse(u.trim())), 'one or more http(s) URLs, comma-separated'),
  NFR_ALERT_WEBHOOK_SECRET: z.string().min(1),
  NFR_ALERT_SNAPSHOT_MAX_AGE: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?\s*(s|m|h|d)?$/, 'a duration such as 25h, 90m, 2d or 3600s (a bare number is hours)')
    .transform((v) => {
      const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/.exec(v) as RegExpExecArray;
      return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 'h') as 's' | 'm' | 'h' | 'd'];
    })
    .pipe(z.number().positive('a duration above 0')),
  NFR_ALERT_CHECK_SECONDS: intIn(1, 60),
  NFR_ALERT_TIMEOUT_SECONDS: intIn(1, 120),
  API_TOKENS: z
    .string()
    .trim()
    .superRefine((v, ctx) => {
      const parsed = parseApiTokens(v);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
    }),
  NFR_API_HOST: z.string().trim().min(1),
  NFR_API_PORT: intIn(0, 65535),
  PORT: intIn(0, 65535),
  AUTO_SNAPSHOT_AFTER_INGESTION: z.enum(['true', 'false', '1', '0', 'yes', 'no'], 'true or false'),
  NFR_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'one of fatal, error, warn, info, debug, trace, silent'),
  NFR_S3_REPOSITORY: z
    .string()
    .trim()
    .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9!_.*'()-]+)*\/?$/, 's3://BUCKET or s3://BUCKET/PREFIX (a bucket name of 3 to 63 lower-case letters, digits, . and -)'),
  NFR_S3_FORCE_PATH_STYLE: z.enum(['true', 'false', '1', '0', 'yes', 'no'], 'true or false'),
  AWS_ENDPOINT_URL_S3: z.string().trim().url('an http(s) URL such as https://s3.example.com'),
  AWS_ENDPOINT_URL: z.string().trim().url('an http(s) URL such as https://s3.example.com'),
  AWS_REGION: z.string().trim().regex(/^[a-z0-9-]{1,40}$/, 'a region name such as us-east-1'),
  AWS_DEFAULT_REGION: z.string().trim().regex(/^[a-z0-9-]{1,40}$/, 'a region name such as us-east-1'),
  NFR_REPOSITORY_KEY_FILE: z.string().trim().min(1),
  NFR_OFFSITE_MAX_DELAY: z
    .string()
    .trim()
    .regex(/^\d+(s|m|h|d)?$/, 'a duration such as 3600, 90m, 1h or 2d')
    .transform((v) => Number(/^\d+/.exec(v)?.[0]) * ({ s: 1, m: 60, h: 3600, d: 86400 }[v.slice(-1)] ?? 1))
    .pipe(z.number().int().min(1, 'a duration of at least 1 second')),
  NFR_LOCAL_KEEP: intIn(1, 1_000_000),
} as const;

type EnvName = keyof typeof ENV_SCHEMA;

export type ApiRole = 'reader' | 'operator' | 'admin';

/** One API token: who it is in the audit trail and logs (`name`), what it may do, the secret. */
export interface ApiToken {
  readonly name: string;
  readonly role: ApiRole;
  readonly token: string;
}

const ROLES: readonly string[] = ['reader', 'operator', 'admin'];
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKENS_FORM =
  'comma-separated role:token pairs or name:role:token entries, role one of reader, operator, admin. An entry whose first part is a role is role:token (the token is everything after the first colon); otherwise the first part is a name (letters, digits, . _ -), the second a role and the token the rest';

/**
 * Reads API_TOKENS: `role:token` (named `<role>-<n>`, the n-th token of that role) or
 * `name:role:token`. The first part decides: a role means the short form, so every value valid
 * before names existed keeps its meaning. Answers the problem as a string when the value is bad
 * (never quoting a token).
 */
export function parseApiTokens(value: string): ApiToken[] | string {
  const out: ApiToken[] = [];
  const perRole = new Map<string, number>();
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  for (const [i, entry] of entries.entries()) {
    const parts = entry.split(':');
    const [first = '', second = ''] = parts;
    let token: ApiToken;
    if (ROLES.includes(first)) {
      const n = (perRole.get(first) ?? 0) + 1;
      perRole.set(first, n);
      token = { name: `${first}-${n}`, role: first as ApiRole, token: entry.slice(first.length + 1) };
    } else if (parts.length >= 3 && ROLES.includes(second)) {
      if (!TOKEN_NAME.test(first)) return `${TOKENS_FORM}; entry ${i + 1} has a name that is not letters, digits, . _ - (at most 64)`;
      token = { name: first, role: second as ApiRole, token: parts.slice(2).join(':') };
    } else {
      return `${TOKENS_FORM}; entry ${i + 1} is neither`;
    }
    if (token.token === '') return `${TOKENS_FORM}; entry ${i + 1} has an empty token`;
    out.push(token);
  }
  if (new Set(out.map((t) => t.token)).size !== out.length) return 'each token given once: the same token under two roles (or twice) would make its role ambiguous';
  const names = out.map((t) => t.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) return `each token name given once: "${twice}" names two tokens (a short-form token is named <role>-<n>)`;
  return out;
}

export interface Config {
  /** Connection string of the live database; undefined means the embedded cluster. */
  readonly databaseUrl: string | undefined;
  /** Root of the embedded state: cluster, default backups and data. */
  readonly home: string;
  readonly backupPath: string;
  readonly parallelJobs: number;
  readonly compression: number;
  readonly dataIngestedPath: string;
  readonly contextProvidersPath: string;
  readonly pgBinDir: string | undefined;
  readonly maintenanceDb: string;
  /** Unprivileged OS user that runs the embedded cluster when we are root. */
  readonly embeddedPgUser: string;
  readonly snapshotMaxAgeHours: number;
  readonly retention: { readonly daily: number; readonly weekly: number; readonly monthly: number };
  /** How long an operation waits for the snapshot lock before giving up; 0 fails at once. */
  readonly lockWaitSeconds: number;
  /**
   * How long an ingestion waits for the operation lock: NFR_LOCK_WAIT_SECONDS when given, else an
   * hour (SPEC §5.3: ingestion is paused while a snapshot runs, it waits on the same lock).
   */
  readonly ingestLockWaitSeconds: number;
  /** How long `nfr serve` lets the running job finish on shutdown before failing it. */
  readonly shutdownGraceSeconds: number;
  /**
   * The control database holding the job queue, beside the live database on its server; restores
   * never touch it. Undefined means `<live database>_nfr`.
   */
  readonly controlDatabase: string | undefined;
  /**
   * How often a server says it is alive (and its running job with it). A job whose heartbeat is
   * three intervals old is failed as interrupted by any live server.
   */
  readonly heartbeatSeconds: number;
  /**
   * How many warm copies (template databases on the server) may exist besides those of pinned
   * snapshots; warming one more cools the least recently restored. 0 disables warming.
   */
  readonly warmMax: number;
  /**
   * How often `nfr serve` repairs what a dead operation left (NFR_RECOVER_INTERVAL_SECONDS,
   * default 5; 0: never, only at the start of operations and on `nfr snapshot recover`).
   */
  readonly recoverIntervalSeconds: number;
  /**
   * How often `nfr serve` checks the checksums of completed snapshots (NFR_VERIFY_INTERVAL,
   * default 24h; 0: never). Seconds.
   */
  readonly verifyIntervalSeconds: number;
  /**
   * A warm snapshot keeps a ready spare (a clone of its copy), so restoring it is a rename;
   * spares count against warmMax. NFR_WARM_SPARE=false turns them off.
   */
  readonly warmSpare: boolean;
  /** Directory of the embedded vector index (used when no QDRANT_URL is set). */
  readonly indexPath: string;
  /** nfr serve keeps the embedded index in memory when it takes at most this much (NFR_INDEX_MEMORY_MB; 0: never). */
  readonly indexMemoryBytes: number;
  /** Keyword ranking's share of a hybrid search score, 0..1 (NFR_SEARCH_KEYWORD_WEIGHT; 0.4 with GloVe, 0.7 otherwise); the semantic ranking has the rest. */
  readonly searchKeywordWeight: number;
  readonly qdrant: { readonly url: string; readonly apiKey: string | undefined; readonly collectionPrefix: string } | undefined;
  /** The local embedder when no EMBEDDINGS_URL is set (NFR_EMBEDDER): GloVe word vectors (the default), or feature hashing. */
  readonly localEmbedder: 'hash' | 'glove';
  /** OpenAI-compatible embeddings endpoint; undefined means a local embedder. */
  readonly embeddings: { readonly url: string; readonly model: string; readonly apiKey: string | undefined } | undefined;
  readonly maxUploadBytes: number;
  /** API tokens, their roles and names (API_TOKENS, see parseApiTokens). Never logged. */
  readonly apiTokens: readonly ApiToken[];
  /** How often every server takes the ticks pg-boss fired, and pg-boss checks its schedules (NFR_SCHEDULE_CHECK_SECONDS, default 5). */
  readonly scheduleCheckSeconds: number;
  /** Alert webhooks (NFR_ALERT_WEBHOOK_URL, comma-separated) and what they are sent (README, Alerts). */
  readonly alerts: {
    readonly webhookUrls: readonly string[];
    /** NFR_ALERT_WEBHOOK_SECRET: each request is signed `X-NFR-Signature: sha256=<HMAC-SHA256 of the body>`. Never logged. */
    readonly secret: string | undefined;
    /** NFR_ALERT_SNAPSHOT_MAX_AGE: the latest completed snapshot older than this alerts (default 25 h). */
    readonly snapshotMaxAgeSeconds: number;
    /** NFR_ALERT_CHECK_SECONDS: how often every server checks the conditions (default 60). */
    readonly checkSeconds: number;
    /** NFR_ALERT_TIMEOUT_SECONDS: one delivery attempt's timeout (default 10). */
    readonly timeoutSeconds: number;
  };
  readonly apiHost: string;
  readonly apiPort: number;
  readonly autoSnapshotAfterIngestion: boolean;
  /** How much `nfr serve` logs (NFR_LOG_LEVEL, pino's levels; default info). */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * The offsite repository (NFR_S3_REPOSITORY), or undefined when snapshots live on local disk only.
   * Credentials are not here: the AWS SDK reads them its standard way (environment, shared files).
   */
  readonly offsite: OffsiteConfig | undefined;
  /** Health turns unhealthy when a completed snapshot has not been offsite for this long (NFR_OFFSITE_MAX_DELAY). */
  readonly offsiteMaxDelaySeconds: number;
  /** Keep local copies of only the newest N snapshots (NFR_LOCAL_KEEP); undefined keeps all. */
  readonly localKeep: number | undefined;
}

export interface OffsiteConfig {
  readonly bucket: string;
  /** Key prefix without a trailing slash ('' for the bucket's root). */
  readonly prefix: string;
  /** AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; undefined means AWS itself. */
  readonly endpoint: string | undefined;
  /** AWS_REGION or AWS_DEFAULT_REGION; undefined: the shared config file's, else us-east-1. */
  readonly region: string | undefined;
  readonly forcePathStyle: boolean;
  /** NFR_REPOSITORY_KEY_FILE: encrypt every object on the client with the key (or passphrase) it holds. */
  readonly keyFile: string | undefined;
}

/** Values given on the command line; they win over the environment. */
export interface ConfigFlags {
  readonly jobs?: number | undefined;
  readonly lockWaitSeconds?: number | undefined;
}

export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Contents of `.env`, already read (so this function stays pure). */
  readonly dotenv?: string | undefined;
  readonly flags?: ConfigFlags;
}

/** Resolves and validates the configuration. Throws NfrError('CONFIG') listing every bad value. */
export function resolveConfig(sources: ConfigSources): Config {
  const fromFile = sources.dotenv === undefined ? {} : parseDotenv(sources.dotenv);
  const raw = (name: EnvName): string | undefined => {
    const v = sources.env[name] ?? fromFile[name];
    return v === undefined || v.trim() === '' ? undefined : v;
  };

  const problems: string[] = [];
  const values: Partial<Record<EnvName, unknown>> = {};
  for (const name of Object.keys(ENV_SCHEMA) as EnvName[]) {
    const v = raw(name);
    if (v === undefined) continue;
    const parsed = ENV_SCHEMA[name].safeParse(v);
    if (parsed.success) values[name] = parsed.data;
    else problems.push(`${name}=${JSON.stringify(redact(name, v))}: expected ${parsed.error.issues[0]?.message ?? 'a valid value'}`);
  }
  if (sources.flags?.jobs !== undefined && !(Number.isInteger(sources.flags.jobs) && sources.flags.jobs >= 1 && sources.flags.jobs <= 64)) {
    problems.push(`--jobs ${String(sources.flags.jobs)}: expected an integer from 1 to 64`);
  }
  if (values.NFR_EMBEDDER === 'glove' && values.EMBEDDINGS_URL !== undefined) {
    problems.push('NFR_EMBEDDER="glove" and EMBEDDINGS_URL are both set: expected one embedder, the local GloVe vectors or the model behind EMBEDDINGS_URL');
  }
  if (problems.length > 0) {
    throw new NfrError('CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }

  const str = (name: EnvName) => values[name] as string | undefined;
  const num = (name: EnvName) => values[name] as number | undefined;
  const abs = (p: string) => path.resolve(sources.cwd, p);

  const home = abs(str('NFR_HOME') ?? '.nfr');
  const config: Config = {
    databaseUrl: str('DATABASE_URL'),
    home,
    backupPath: abs(str('POSTGRES_BACKUP_PATH') ?? path.join(home, 'backups')),
    parallelJobs: sources.flags?.jobs ?? num('POSTGRES_BACKUP_PARALLEL_JOBS') ?? defaultJobs(),
    // pg_dump 15 only offers gzip; on a 1.7 GB database -Z0 dumped in 5.1 s, -Z1 in 8.8 s and the
    // default level in 22.7 s, so speed wins by default and operators who want smaller archives opt in.
    compression: num('POSTGRES_BACKUP_COMPRESSION') ?? 0,
    dataIngestedPath: abs(str('DATA_INGESTED_PATH') ?? path.join(home, 'data')),
    contextProvidersPath: abs(str('CONTEXT_PROVIDERS_PATH') ?? path.join(home, 'context')),
    pgBinDir: str('PG_BIN_DIR'),
    maintenanceDb: str('NFR_MAINTENANCE_DB') ?? 'postgres',
    embeddedPgUser: str('NFR_EMBEDDED_PG_USER') ?? 'postgres',
    snapshotMaxAgeHours: num('NFR_SNAPSHOT_MAX_AGE_HOURS') ?? 24,
    retention: Object.freeze({
      daily: num('NFR_RETENTION_DAILY') ?? 7,
      weekly: num('NFR_RETENTION_WEEKLY') ?? 4,
      monthly: num('NFR_RETENTION_MONTHLY') ?? 3,
    }),
    lockWaitSeconds: sources.flags?.lockWaitSeconds ?? num('NFR_LOCK_WAIT_SECONDS') ?? 0,
    ingestLockWaitSeconds: sources.flags?.lockWaitSeconds ?? num('NFR_LOCK_WAIT_SECONDS') ?? 3600,
    shutdownGraceSeconds: num('NFR_SHUTDOWN_GRACE_SECONDS') ?? 30,
    controlDatabase: str('NFR_CONTROL_DATABASE'),
    heartbeatSeconds: num('NFR_HEARTBEAT_SECONDS') ?? 10,
    warmMax: num('NFR_WARM_MAX') ?? 2,
    recoverIntervalSeconds: num('NFR_RECOVER_INTERVAL_SECONDS') ?? 5,
    verifyIntervalSeconds: num('NFR_VERIFY_INTERVAL') ?? 86400,
    warmSpare: ['true', '1', 'yes'].includes(str('NFR_WARM_SPARE') ?? 'true'),
    indexPath: abs(str('NFR_INDEX_PATH') ?? path.join(home, 'index')),
    indexMemoryBytes: (num('NFR_INDEX_MEMORY_MB') ?? 1024) * 1024 * 1024,
    // GloVe's ranking is worth more of the score than feature hashing's (bench/search: README).
    searchKeywordWeight: num('NFR_SEARCH_KEYWORD_WEIGHT') ?? (str('EMBEDDINGS_URL') === undefined && (str('NFR_EMBEDDER') ?? 'glove') === 'glove' ? 0.4 : 0.7),
    qdrant: str('QDRANT_URL')
      ? Object.freeze({ url: str('QDRANT_URL') as string, apiKey: str('QDRANT_API_KEY'), collectionPrefix: str('QDRANT_COLLECTION_PREFIX') ?? 'nfr' })
      : undefined,
    localEmbedder: (str('NFR_EMBEDDER') as 'hash' | 'glove' | undefined) ?? 'glove',
    embeddings: str('EMBEDDINGS_URL')
      ? Object.freeze({ url: str('EMBEDDINGS_URL') as string, model: str('EMBEDDINGS_MODEL') ?? 'text-embedding-3-small', apiKey: str('EMBEDDINGS_API_KEY') })
      : undefined,
    maxUploadBytes: (num('NFR_MAX_UPLOAD_MB') ?? 512) * 1024 * 1024,
    apiTokens: Object.freeze((parseApiTokens(str('API_TOKENS') ?? '') as ApiToken[]).map((t) => Object.freeze(t))),
    scheduleCheckSeconds: num('NFR_SCHEDULE_CHECK_SECONDS') ?? 5,
    alerts: Object.freeze({
      webhookUrls: Object.freeze(
        (str('NFR_ALERT_WEBHOOK_URL') ?? '')
          .split(',')
          .map((u) => u.trim())
          .filter(Boolean),
      ),
      secret: values.NFR_ALERT_WEBHOOK_SECRET as string | undefined,
      snapshotMaxAgeSeconds: (values.NFR_ALERT_SNAPSHOT_MAX_AGE as number | undefined) ?? 25 * 3600,
      checkSeconds: num('NFR_ALERT_CHECK_SECONDS') ?? 60,
      timeoutSeconds: num('NFR_ALERT_TIMEOUT_SECONDS') ?? 10,
    }),
    apiHost: str('NFR_API_HOST') ?? '127.0.0.1',
    apiPort: num('NFR_API_PORT') ?? num('PORT') ?? 8080,
    autoSnapshotAfterIngestion: ['true', '1', 'yes'].includes(str('AUTO_SNAPSHOT_AFTER_INGESTION') ?? 'false'),
    logLevel: (str('NFR_LOG_LEVEL') as Config['logLevel'] | undefined) ?? 'info',
    offsite: offsiteConfig(str, abs),
    offsiteMaxDelaySeconds: num('NFR_OFFSITE_MAX_DELAY') ?? 3600,
    localKeep: num('NFR_LOCAL_KEEP'),
  };
  return Object.freeze(config);
}

function offsiteConfig(str: (name: EnvName) => string | undefined, abs: (p: string) => string): OffsiteConfig | undefined {
  const repository = str('NFR_S3_REPOSITORY');
  if (!repository) return undefined;
  const rest = repository.slice('s3://'.length).replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  const endpoint = str('AWS_ENDPOINT_URL_S3') ?? str('AWS_ENDPOINT_URL');
  const keyFile = str('NFR_REPOSITORY_KEY_FILE');
  return Object.freeze({
    bucket: slash < 0 ? rest : rest.slice(0, slash),
    prefix: slash < 0 ? '' : rest.slice(slash + 1),
    endpoint,
    region: str('AWS_REGION') ?? str('AWS_DEFAULT_REGION'),
    // Most S3-compatible stores (Swift, MinIO, Ceph) only answer path-style requests.
    forcePathStyle: endpoint !== undefined || ['true', '1', 'yes'].includes(str('NFR_S3_FORCE_PATH_STYLE') ?? 'false'),
    keyFile: keyFile === undefined ? undefined : abs(keyFile),
  });
}

/** Reads `.env` from the working directory if there is one, then resolves the config. */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  let dotenv: string | undefined;
  try {
    dotenv = readFileSync(path.join(cwd, '.env'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const config = resolveConfig({ env, cwd, dotenv, flags });
  if (dotenv !== undefined && env === process.env) exportAwsSettings(parseDotenv(dotenv), env);
  return config;
}

/**
 * The AWS SDK reads its credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, ...) from the process environment only, so the
 * `AWS_*` lines of `.env` are put there, as `node --env-file` would; a variable already set in
 * the environment wins, as for every other setting. Called only once the configuration is valid.
 */
function exportAwsSettings(fromFile: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv): void {
  for (const [name, value] of Object.entries(fromFile)) {
    if (name.startsWith('AWS_') && env[name] === undefined) env[name] = value;
  }
}

/** Two parallel jobs beat four on a two-core machine; more cores get up to four. */
function defaultJobs(): number {
  return Math.max(1, Math.min(availableParallelism(), 4));
}

/**
 * A value as it may be printed: secrets masked whatever shape the value has, since a malformed
 * value is exactly the one that gets printed.
 */
export function redact(name: EnvName, value: string): string {
  if (name === 'QDRANT_API_KEY' || name === 'EMBEDDINGS_API_KEY' || name === 'NFR_ALERT_WEBHOOK_SECRET') return '***';
  // A webhook's path is often its secret (Slack's, Teams'): only the origin is shown.
  if (name === 'NFR_ALERT_WEBHOOK_URL') return value.split(',').map((u) => (URL.canParse(u.trim()) ? `${new URL(u.trim()).origin}/***` : '***')).join(',');
  if (name === 'API_TOKENS') {
    return value
      .split(',')
      .map((entry) => {
        const parts = entry.split(':');
        if (parts.length < 2) return '***';
        // The named form keeps its name and role; whatever follows is the token.
        const keep = !ROLES.includes(parts[0]!.trim()) && parts.length >= 3 && ROLES.includes(parts[1]!) ? 2 : 1;
        return `${parts.slice(0, keep).join(':')}:***`;
      })
      .join(',');
  }
  if (name !== 'DATABASE_URL') return value;
  return redactUrl(value);
}

/** Masks the password of anything URL-like: what follows the user name, up to the last `@`. */
export function redactUrl(value: string): string {
  const at = value.lastIndexOf('@');
  if (at < 0) return value;
  const head = value.slice(0, at);
  // The scheme, however it is mangled (`postgresql://`, `postgresql:/`, `postgres//`).
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/{0,2}|^[A-Za-z][A-Za-z0-9+.-]*\/\//.exec(head)?.[0] ?? '';
  const userinfo = head.slice(scheme.length);
  const colon = userinfo.indexOf(':');
  return colon < 0 ? value : `${scheme}${userinfo.slice(0, colon)}:***${value.slice(at)}`;
}

/**
 * `.env` through Node's own parser (the one behind `node --env-file`): KEY=VALUE lines, `export`,
 * quotes, multi-line double-quoted values with `\n` escapes, `#` comments.
 */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseEnv(text))) if (value !== undefined) out[name] = value;
  return out;
}
