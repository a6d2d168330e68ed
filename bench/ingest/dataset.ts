/**
 * Generated controls CSVs (the product's format) of any size, written as a stream so the
 * generator itself never holds the file, and the reference rows (functions, locations, risk
 * themes) those controls point at, inserted set-based.
 *
 * Text is varied and realistic in length (titles ~50 characters, descriptions a few hundred with
 * commas, quotes and the odd line break), so quoting and hashing cost what they cost on real data.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { stringify } from 'csv-stringify/sync';
import { CONTROL_COLUMNS } from '../../src/ingest/controls-csv.js';
import { CSV_OPTIONS } from '../../src/sample/controls-csv.js';
import { seededRandom } from '../../src/util/random.js';

const CSV_CRLF = { ...CSV_OPTIONS, record_delimiter: 'windows' } as const;

export interface ReferenceSizes {
  readonly functions: number;
  readonly locations: number;
  readonly themes: number;
}

export const DEFAULT_REFERENCE: ReferenceSizes = { functions: 200, locations: 100, themes: 60 };

export const functionId = (n: number) => `F-${String(n).padStart(4, '0')}`;
export const locationId = (n: number) => `L-${String(n).padStart(4, '0')}`;
export const themeId = (n: number) => `RT-${String(n).padStart(3, '0')}`;
export const controlId = (n: number) => `CTL-${String(n).padStart(7, '0')}`;

/** Inserts current functions, locations and risk themes (ref + ver rows) with generate_series. */
export async function insertReferenceData(client: pg.ClientBase, sizes: ReferenceSizes = DEFAULT_REFERENCE): Promise<void> {
  await client.query('begin');
  await client.query(`insert into src_orgs_ref_function (function_id) select 'F-' || lpad(g::text, 4, '0') from generate_series(1, $1) g`, [sizes.functions]);
  await client.query(
    `insert into src_orgs_ver_function (function_id, id_type, id_status, name)
     select 'F-' || lpad(g::text, 4, '0'), 'function', 'active', 'Function ' || g from generate_series(1, $1) g`,
    [sizes.functions],
  );
  await client.query(`insert into src_orgs_ref_location (location_id) select 'L-' || lpad(g::text, 4, '0') from generate_series(1, $1) g`, [sizes.locations]);
  await client.query(
    `insert into src_orgs_ver_location (location_id, id_type, location_name, location_status)
     select 'L-' || lpad(g::text, 4, '0'), 'location', array['World', 'Site ' || g], 'active' from generate_series(1, $1) g`,
    [sizes.locations],
  );
  await client.query(`insert into src_risks_ref_theme (risk_theme_id) select 'RT-' || lpad(g::text, 3, '0') from generate_series(1, $1) g`, [sizes.themes]);
  await client.query(
    `insert into src_risks_ver_theme (risk_theme_id, name, description, status)
     select 'RT-' || lpad(g::text, 3, '0'), 'Risk theme ' || g, 'Risk theme number ' || g, 'Active' from generate_series(1, $1) g`,
    [sizes.themes],
  );
  await client.query('commit');
}

const VERBS = ['Review', 'Reconcile', 'Approve', 'Monitor', 'Restrict', 'Validate', 'Test', 'Encrypt', 'Log', 'Escalate', 'Verify', 'Segregate'];
const OBJECTS = ['privileged access', 'vendor payments', 'journal entries', 'backup restores', 'firewall rules', 'customer data exports', 'change requests', 'trading limits', 'incident tickets', 'user provisioning', 'key rotation', 'model overrides'];
const QUALIFIERS = ['quarterly', 'for critical systems', 'before release', 'across regions', 'by an independent reviewer', 'with dual approval', 'against the policy baseline', 'after each outage'];
const SENTENCES = [
  'The control owner obtains the population from the system of record and checks completeness against the prior period.',
  'Exceptions are logged, assigned to a named remediation owner, and tracked to closure within thirty days.',
  'Evidence, including screenshots and sign-offs, is retained for seven years in the GRC repository.',
  'Where the "four eyes" principle cannot be applied, a compensating review is performed by second line, and documented.',
  'Access rights that are no longer required are revoked, and the revocation is confirmed with the system administrator.',
  'Automated alerts are raised when thresholds are breached; the on-call analyst triages them within one business day.',
  'The reviewer compares the approved baseline with the current configuration and investigates every difference.',
  'Results are reported to the risk committee, with trends, overdue actions and any accepted risks.',
  'Samples are selected using a documented, risk-based method; sample size depends on the control frequency.',
  'Segregation of duties conflicts are identified, justified, or removed, and the justification is re-approved annually.',
];
const TYPES = ['preventative', 'detective', 'corrective'];
const EXEC = ['manual', 'automated', 'semi-automated'];
const FREQ = ['continuous', 'daily', 'weekly', 'monthly', 'quarterly', 'semi-annual', 'annual', 'ad-hoc', 'event-driven'];
const STATUS = ['active', 'active', 'active', 'inactive', 'draft', 'retired'];
const REGS = ['SOX 404', 'GDPR Art. 32', 'DORA Art. 9', 'PCI DSS 7.2', 'ISO 27001 A.9', 'NIST AC-2', 'BCBS 239'];

export interface GenerateOptions {
  readonly rows: number;
  readonly seed?: number;
  readonly reference?: ReferenceSizes;
  /** Added to every title: a different tag changes every control's text. */
  readonly tag?: string;
  /** Every description padded with sentences to exactly this many characters (large fields). */
  readonly descriptionChars?: number;
  /** Controls whose description is this long instead (longer than nfr accepts: a row error). */
  readonly oversize?: { readonly every: number; readonly chars: number };
}

/** `text` followed by sentences until it is exactly `chars` long. */
function padded(text: string, chars: number, pick: () => string): string {
  const parts = [text];
  let length = text.length;
  while (length < chars) {
    const s = ` ${pick()}`;
    parts.push(s);
    length += s.length;
  }
  return parts.join('').slice(0, chars);
}

/** The lines of a generated controls CSV, header first, each ending in CRLF (RFC 4180). */
export function* controlsCsvLines(options: GenerateOptions): Generator<string> {
  const ref = options.reference ?? DEFAULT_REFERENCE;
  const rand = seededRandom(options.seed ?? 1).next;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const n = (max: number) => 1 + Math.floor(rand() * max);
  yield stringify([CONTROL_COLUMNS], CSV_CRLF);
  for (let i = 1; i <= options.rows; i++) {
    const sentences: string[] = [];
    for (let k = 0, count = 2 + Math.floor(rand() * 4); k < count; k++) sentences.push(pick(SENTENCES));
    let description = `Control ${i}: ${sentences.join(i % 50 === 0 ? '\n' : ' ')}`;
    const oversize = options.oversize !== undefined && i % options.oversize.every === 0;
    const wanted = oversize ? options.oversize?.chars : options.descriptionChars;
    if (wanted !== undefined) description = padded(description, wanted, () => pick(SENTENCES));
    const related = (max: number, id: (n: number) => string, size: number) =>
      Array.from({ length: Math.floor(rand() * (max + 1)) }, () => id(n(size))).join(';');
    const fields: Record<(typeof CONTROL_COLUMNS)[number], string> = {
      control_id: controlId(i),
      title: `${pick(VERBS)} ${pick(OBJECTS)} ${pick(QUALIFIERS)}${options.tag ? ` ${options.tag}` : ''}`,
      description,
      parent_control_id: i > 10 && i % 7 === 0 ? controlId(i - 1 - Math.floor(rand() * 9)) : '',
      family_id: `FAM-${String(1 + (i % 18)).padStart(2, '0')}`,
      family: `Family ${1 + (i % 18)}`,
      key_control: rand() < 0.3 ? 'yes' : 'no',
      control_type: pick(TYPES),
      execution: pick(EXEC),
      frequency: pick(FREQ),
      status: pick(STATUS),
      owner: `owner${n(500)}@example.com`,
      effective_date: `20${20 + (i % 6)}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`,
      review_date: i % 3 === 0 ? '' : `2027-${String(1 + (i % 12)).padStart(2, '0')}-15`,
      sox_relevant: rand() < 0.4 ? 'true' : 'false',
      gdpr_relevant: rand() < 0.2 ? '1' : '0',
      regulatory_references: Array.from({ length: Math.floor(rand() * 3) }, () => pick(REGS)).join(';'),
      owning_function_id: functionId(n(ref.functions)),
      owning_location_id: locationId(n(ref.locations)),
      related_function_ids: related(2, functionId, ref.functions),
      related_location_ids: related(2, locationId, ref.locations),
      risk_theme_ids: Array.from({ length: 1 + Math.floor(rand() * 3) }, () => themeId(n(ref.themes))).join(';'),
    };
    yield stringify([CONTROL_COLUMNS.map((c) => fields[c])], CSV_CRLF);
  }
}

/** Writes a generated controls CSV to `file`, streamed with backpressure; returns its size in bytes. */
export async function writeControlsCsv(file: string, options: GenerateOptions): Promise<number> {
  let bytes = 0;
  async function* chunks(): AsyncGenerator<string> {
    let chunk = '';
    for (const line of controlsCsvLines(options)) {
      chunk += line;
      if (chunk.length >= 1 << 16) {
        bytes += Buffer.byteLength(chunk);
        yield chunk;
        chunk = '';
      }
    }
    if (chunk) {
      bytes += Buffer.byteLength(chunk);
      yield chunk;
    }
  }
  await pipeline(Readable.from(chunks()), createWriteStream(file, { mode: 0o600 }));
  return bytes;
}
