/**
 * The benchmark database: the project's schema, filled server-side with controls-like data until
 * it reaches the target size.
 *
 * Text is what dominates a real controls database, and how it compresses decides both its size
 * on disk (TOAST compresses values over ~2 kB) and the dump's size (-Z0 does not). So descriptions
 * are prose-like runs of domain words from a shuffled corpus, a few hundred bytes to ~4 kB, with a
 * per-row md5 reference, rather than repeat()ed md5s that compress to nothing.
 */
import type pg from 'pg';
import { connect, type PgTarget } from '../../src/postgres/connection.js';
import { migrateToHead } from '../../src/postgres/migrate.js';

export interface Dataset {
  readonly build_seconds: number;
  readonly size_bytes: number;
  readonly functions: number;
  readonly controls: number;
  readonly control_versions: number;
}

const FUNCTIONS = 2_000;
const CONTROLS_PER_BATCH = 10_000;
/**
 * Slicing a text[] walks it from the start (its elements have variable length), so the corpus is
 * kept small: a 50,000-word corpus made the whole build four times slower.
 */
const CORPUS_WORDS = 4_000;
/** Longest description, in corpus words (the slice must stay inside the corpus). */
const MAX_WORDS = 600;

const WORDS = (
  'access review approval authorisation reconciliation segregation duties control owner evidence ' +
  'quarterly monthly daily exception report escalation threshold breach incident risk appetite ' +
  'assessment testing sample population deficiency remediation action plan validation completeness ' +
  'accuracy timeliness ledger payment vendor master data change management privileged user account ' +
  'termination joiner mover leaver firewall configuration backup recovery continuity outsourcing ' +
  'third party due diligence contract monitoring sanctions screening transaction anti money laundering ' +
  'fraud detection alert investigation case closure sign-off committee governance policy procedure ' +
  'standard regulatory requirement audit trail logging retention archive encryption key rotation ' +
  'vulnerability patch deployment release segregation environment production test documented ' +
  'independent reviewer four-eyes principle manual automated system generated report completeness ' +
  'is verified by the of and to in for with on that each all any where when before after within ' +
  'must shall should ensures confirms records retains compares investigates approves rejects'
).split(' ');

/** Migrates, fills, and vacuums the live database; logs progress with `log`. */
export async function buildDataset(target: PgTarget, sizeMb: number, log: (line: string) => void, signal?: AbortSignal): Promise<Dataset> {
  const started = performance.now();
  await migrateToHead(target);
  const client = await connect(target, 'nfr bench build');
  try {
    await insertFunctions(client);
    const targetBytes = sizeMb * 1024 * 1024;
    const corpus = makeCorpus(CORPUS_WORDS);
    let controls = 0;
    let size = await databaseSize(client);
    while (size < targetBytes) {
      signal?.throwIfAborted();
      await insertControls(client, controls + 1, controls + CONTROLS_PER_BATCH, corpus);
      controls += CONTROLS_PER_BATCH;
      size = await databaseSize(client);
      log(`  ${controls} controls, ${(size / 1024 / 1024).toFixed(0)} MiB of ${sizeMb} MiB`);
    }
    // Sets hint bits and the visibility map now, so neither the first dump nor the first count
    // pays for writing them; and gives the planner statistics, as a live database would have.
    await client.query('vacuum analyze');
    const versions = await client.query<{ n: string }>('select count(*)::text as n from src_controls_ver_control');
    return {
      build_seconds: (performance.now() - started) / 1000,
      size_bytes: await databaseSize(client),
      functions: FUNCTIONS,
      controls,
      control_versions: Number(versions.rows[0]?.n ?? 0),
    };
  } finally {
    await client.end().catch(() => {});
  }
}

async function databaseSize(client: pg.ClientBase): Promise<number> {
  const r = await client.query<{ n: string }>('select pg_database_size(current_database())::text as n');
  return Number(r.rows[0]?.n ?? 0);
}

/** Deterministic shuffled word stream (mulberry32), so every run builds the same database. */
function makeCorpus(length: number): string[] {
  let seed = 0x6e6672;
  const next = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length }, () => WORDS[Math.floor(next() * WORDS.length)] as string);
}

async function insertFunctions(client: pg.ClientBase): Promise<void> {
  await client.query('begin');
  await client.query(
    `insert into src_orgs_ref_function (function_id)
     select 'F-' || lpad(g::text, 5, '0') from generate_series(1, $1::int) g`,
    [FUNCTIONS],
  );
  await client.query(
    `insert into src_orgs_ver_function (function_id, id_type, id_status, name)
     select 'F-' || lpad(g::text, 5, '0'),
            (array['division', 'department', 'team'])[1 + g % 3],
            case when g % 17 = 0 then 'inactive' else 'active' end,
            (array['Group', 'Retail', 'Corporate', 'Markets', 'Operations', 'Technology', 'Finance', 'Compliance'])[1 + g % 8]
              || ' ' || (array['Risk', 'Control', 'Oversight', 'Services', 'Assurance'])[1 + g % 5] || ' ' || g
       from generate_series(1, $1::int) g`,
    [FUNCTIONS],
  );
  await client.query('commit');
}

/**
 * One batch of controls [lo, hi]: identities, a current version each, and for every fourth
 * control a closed earlier version (the history a re-ingest leaves behind).
 */
async function insertControls(client: pg.ClientBase, lo: number, hi: number, corpus: readonly string[]): Promise<void> {
  await client.query('begin');
  await client.query(
    `insert into src_controls_ref_control (control_id, created_at)
     select 'CTRL-' || lpad(g::text, 7, '0'), now() - (g % 1000) * interval '1 hour'
       from generate_series($1::int, $2::int) g`,
    [lo, hi],
  );
  await client.query(
    `insert into src_controls_ver_control (
       control_id, title, description, family_id, family, key_control, control_type, execution, frequency,
       status, owner, effective_date, review_date, sox_relevant, gdpr_relevant, regulatory_references,
       parent_control_id, owning_function_id, text_hash, tx_from, tx_to)
     select r.control_id, r.title, r.description, r.family_id, r.family, r.key_control, r.control_type, r.execution,
            r.frequency, r.status, r.owner, r.effective_date, r.review_date, r.sox_relevant, r.gdpr_relevant,
            r.regulatory_references, r.parent_control_id, r.owning_function_id,
            md5(r.title || r.description),
            case v.k when 0 then r.changed_at else r.changed_at - (30 + r.h % 400) * interval '1 day' end,
            case v.k when 0 then null else r.changed_at end
       from (
         select g, h, w,
                'CTRL-' || lpad(g::text, 7, '0') as control_id,
                initcap(array_to_string(($3::text[])[1 + h % ${CORPUS_WORDS - 10} : 4 + h % ${CORPUS_WORDS - 10} + w % 5], ' ')) as title,
                'Control CTRL-' || lpad(g::text, 7, '0') || ' ensures that '
                  || array_to_string(($3::text[])[1 + w % ${CORPUS_WORDS - MAX_WORDS} : 30 + w % ${CORPUS_WORDS - MAX_WORDS} + h % ${MAX_WORDS - 30}], ' ')
                  || '. Evidence reference ' || md5(g::text) || '; see policy ' || upper(substr(md5(h::text), 1, 8)) || '.' as description,
                'FAM-' || lpad((h % 40)::text, 2, '0') as family_id,
                (array['Access management', 'Change management', 'Payments', 'Financial reporting', 'Financial crime', 'Resilience', 'Third parties', 'Data protection'])[1 + h % 8] as family,
                h % 3 = 0 as key_control,
                (array['preventative', 'detective', 'corrective'])[1 + h % 3] as control_type,
                (array['manual', 'automated', 'semi-automated'])[1 + w % 3] as execution,
                (array['continuous', 'daily', 'weekly', 'monthly', 'quarterly', 'semi-annual', 'annual', 'ad-hoc', 'event-driven'])[1 + h % 9] as frequency,
                (array['active', 'active', 'active', 'active', 'active', 'inactive', 'draft', 'retired'])[1 + w % 8] as status,
                'owner' || (h % 500) || '@example.com' as owner,
                current_date - (h % 1500) as effective_date,
                current_date - (h % 1500) + 365 as review_date,
                h % 4 = 0 as sox_relevant,
                w % 5 = 0 as gdpr_relevant,
                (array['SOX 404', 'GDPR Art. 32', 'BCBS 239', 'DORA Art. 9', 'ISO 27001 A.9', 'PCI DSS 7'])[1 + h % 3 : 1 + h % 3 + w % 4] as regulatory_references,
                case when g % 10 = 0 then 'CTRL-' || lpad((g / 10)::text, 7, '0') end as parent_control_id,
                'F-' || lpad((1 + h % ${FUNCTIONS})::text, 5, '0') as owning_function_id,
                now() - (h % 365) * interval '1 day' as changed_at
           from generate_series($1::int, $2::int) g,
                lateral (select hashint4(g) & 2147483647 as h, hashint4(g + 1000000007) & 2147483647 as w) x
       ) r
       cross join lateral (values (0), (1)) v(k)
      where v.k = 0 or r.g % 4 = 0`,
    [lo, hi, corpus],
  );
  await client.query('commit');
}
