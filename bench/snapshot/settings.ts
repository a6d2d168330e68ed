/**
 * Benchmark settings from the environment, validated once at start-up: a bad value stops the
 * run before a cluster is started, naming the variable and the expected form.
 */
import { tmpdir } from 'node:os';
import { z } from 'zod';

export interface BenchSettings {
  /** Target pg_database_size of the benchmark database, in MiB. */
  readonly sizeMb: number;
  /** Repetitions of every timed operation; medians are reported. */
  readonly runs: number;
  /** Directory under which the run's own temporary directory is made. */
  readonly parentDir: string;
  /** pg_dump/pg_restore --jobs, for nfr and the raw tools alike. */
  readonly jobs: number;
  /** pg_dump --compress, for nfr and the raw tool alike. */
  readonly compression: number;
  readonly pgBinDir: string | undefined;
  /** Repetitions of the offsite comparisons (each moves the set up and down six times). */
  readonly offsiteRuns: number;
}

const intIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `an integer from ${min} to ${max}`).max(max, `an integer from ${min} to ${max}`));

const SCHEMA = {
  BENCH_SIZE_MB: intIn(10, 1_000_000),
  BENCH_RUNS: intIn(1, 50),
  BENCH_DIR: z.string().trim().min(1),
  POSTGRES_BACKUP_PARALLEL_JOBS: intIn(1, 64),
  POSTGRES_BACKUP_COMPRESSION: intIn(0, 9),
  PG_BIN_DIR: z.string().trim().min(1),
  BENCH_OFFSITE_RUNS: intIn(1, 50),
} as const;

type Name = keyof typeof SCHEMA;

/** Reads and validates the settings; throws listing every bad variable. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const values: Partial<Record<Name, unknown>> = {};
  const problems: string[] = [];
  for (const name of Object.keys(SCHEMA) as Name[]) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    const parsed = SCHEMA[name].safeParse(raw);
    if (parsed.success) values[name] = parsed.data;
    else problems.push(`${name}=${JSON.stringify(raw)}: expected ${parsed.error.issues[0]?.message ?? 'a valid value'}`);
  }
  if (problems.length > 0) throw new Error(`invalid benchmark settings:\n  ${problems.join('\n  ')}`);
  return Object.freeze({
    sizeMb: (values.BENCH_SIZE_MB as number | undefined) ?? 1024,
    runs: (values.BENCH_RUNS as number | undefined) ?? 3,
    parentDir: (values.BENCH_DIR as string | undefined) ?? tmpdir(),
    jobs: (values.POSTGRES_BACKUP_PARALLEL_JOBS as number | undefined) ?? 2,
    // 0 is the project's default (see src/config.ts): the benchmark measures what users get.
    compression: (values.POSTGRES_BACKUP_COMPRESSION as number | undefined) ?? 0,
    pgBinDir: values.PG_BIN_DIR as string | undefined,
    offsiteRuns: (values.BENCH_OFFSITE_RUNS as number | undefined) ?? 3,
  });
}
