/**
 * The controls CSV format (the product's own): the columns, the header check, and the per-row
 * validation (zod) that turns one parsed record into the values COPYed into staging.
 *
 * Checks that need other rows or the database (duplicate ids, unknown function, location, theme
 * and parent references) are set-based SQL in `controls.ts`; everything a single row can tell
 * about itself is checked here, so the error names the line and the field.
 */
import { parse, type Options as CsvOptions, type Parser } from 'csv-parse';
import { z } from 'zod';
import { controlText, textHash } from './text.js';
import { NfrError, type InputError } from '../errors.js';
import { CONTROLS_CSV_OPTIONS, MAX_FIELD_CHARS, MAX_RECORD_CHARS } from './csv-options.js';

/** Every column the format knows, in the order `nfr sample` writes them. */
export const CONTROL_COLUMNS = [
  'control_id',
  'title',
  'description',
  'parent_control_id',
  'family_id',
  'family',
  'key_control',
  'control_type',
  'execution',
  'frequency',
  'status',
  'owner',
  'effective_date',
  'review_date',
  'sox_relevant',
  'gdpr_relevant',
  'regulatory_references',
  'owning_function_id',
  'owning_location_id',
  'related_function_ids',
  'related_location_ids',
  'risk_theme_ids',
] as const;

export type ControlColumn = (typeof CONTROL_COLUMNS)[number];

export const REQUIRED_COLUMNS: readonly ControlColumn[] = ['control_id', 'title'];

export const CONTROL_TYPES = ['preventative', 'detective', 'corrective'] as const;
export const EXECUTIONS = ['manual', 'automated', 'semi-automated'] as const;
export const FREQUENCIES = ['continuous', 'daily', 'weekly', 'monthly', 'quarterly', 'semi-annual', 'annual', 'ad-hoc', 'event-driven'] as const;
export const STATUSES = ['active', 'inactive', 'draft', 'retired'] as const;

export const CONTROL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._()/-]*$/;
const MAX_ID = 64;
const MAX_TITLE = 500;

/** One problem with one row of a controls CSV: always a line (1-based, where the record starts) and a column. */
export type RowError = InputError & { readonly line: number; readonly field: string };

/** What csv-parse's syntax errors mean, and what to do about them. */
const CSV_PROBLEMS: Readonly<Record<string, string>> = {
  INVALID_OPENING_QUOTE: 'a quote inside a field that does not start with one; quote the whole field and double the quotes inside it (x"y becomes "x""y")',
  CSV_INVALID_CLOSING_QUOTE: 'characters after the closing quote of a quoted field; double a quote that belongs to the text ("x""y")',
  CSV_QUOTE_NOT_CLOSED: 'a quote opened in this record is never closed',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: 'characters after the closing quote of a quoted field',
};

/**
 * csv-parse's syntax errors (unclosed quote, stray quote, oversized record) as INVALID_INPUT
 * naming file and line, with the problem as a row error in `details.errors` (line and, when
 * `layout` is known, the column), as every other bad row is reported; undefined for any other
 * error. `part` is what was being read, `outcome` what that means.
 */
export function csvSyntaxError(err: unknown, file: string, part: 'CSV' | 'CSV header', outcome: string, layout?: HeaderLayout): NfrError | undefined {
  const e = err as { code?: unknown; lines?: unknown; message?: unknown; index?: unknown } | null;
  if (typeof e?.code !== 'string' || !(e.code.startsWith('CSV_') || e.code in CSV_PROBLEMS)) return undefined;
  const line = typeof e.lines === 'number' ? e.lines : undefined;
  const at = `${file}${line ? ` line ${line}` : ''}`;
  const field = (layout && typeof e.index === 'number' && CONTROL_COLUMNS.find((c) => layout[c] === e.index)) || '(row)';
  const details = (message: string) => ({ file, line, csv_error: e.code, rows_rejected: 1, error_count: 1, errors: [{ line: line ?? null, field, message }] });
  if (e.code === 'CSV_MAX_RECORD_SIZE') {
    const message = `a record longer than ${MAX_RECORD_CHARS.toLocaleString('en-US')} characters (a field may have at most ${MAX_FIELD_CHARS.toLocaleString('en-US')}); it was not read into memory`;
    return new NfrError('INVALID_INPUT', `${at}: ${message}; ${outcome}`, { cause: err, details: details(message) });
  }
  const meaning = CSV_PROBLEMS[e.code];
  const message = `malformed ${part}: ${String(e.message)}${meaning ? ` (${meaning})` : ''}`;
  return new NfrError('INVALID_INPUT', `${at}: ${message}; the file cannot be read past this point; ${outcome}`, { cause: err, details: details(message) });
}

/** A parser with the controls CSV options (see csv-options.ts); `extra` adds options such as `to_line`. */
export function controlsCsvParser(extra: CsvOptions = {}): Parser {
  return parse({ ...CONTROLS_CSV_OPTIONS, ...extra });
}

/**
 * Other names of columns, as exports of control catalogues write them (the NIST SP 800-53 CSV
 * this product ships says control_title and control_description).
 */
const COLUMN_ALIASES: Readonly<Record<string, ControlColumn>> = { control_title: 'title', control_description: 'description' };

/** Where each known column sits in a record (undefined: the file does not have it). */
export type HeaderLayout = Readonly<Record<ControlColumn, number | undefined>> & { readonly width: number };

/**
 * Checks the header record: every column known, none twice, the required ones present.
 * Names are matched trimmed and case-insensitively. Throws INVALID_INPUT listing every problem.
 */
export function parseHeader(fields: readonly string[], file: string): HeaderLayout {
  const layout: Record<string, number | undefined> = {};
  const problems: string[] = [];
  const known = new Set<string>(CONTROL_COLUMNS);
  fields.forEach((raw, i) => {
    const given = raw.trim().toLowerCase();
    const name = COLUMN_ALIASES[given] ?? given;
    if (!known.has(name)) problems.push(`unknown column ${JSON.stringify(raw)} (column ${i + 1})`);
    else if (layout[name] !== undefined) problems.push(`column ${JSON.stringify(name)} appears twice`);
    else layout[name] = i;
  });
  for (const required of REQUIRED_COLUMNS) {
    if (layout[required] === undefined) problems.push(`required column "${required}" is missing`);
  }
  if (problems.length > 0) {
    throw new NfrError('INVALID_INPUT', `${file} line 1: bad header: ${problems.join('; ')}. Expected columns: ${CONTROL_COLUMNS.join(', ')} (control_id and title required, any order)`, {
      details: { file, line: 1, problems },
    });
  }
  return Object.freeze({ ...(layout as Record<ControlColumn, number | undefined>), width: fields.length });
}

/** The known columns a file leaves out: for existing controls, "not provided, keep what is there". */
export function absentColumns(layout: HeaderLayout): ControlColumn[] {
  return CONTROL_COLUMNS.filter((c) => layout[c] === undefined);
}

// ---- field validators: input is the raw CSV text, '' means "not given" ---------------------------

const empty = (v: string) => v.trim() === '';

const controlId = z
  .string()
  .refine((v) => !empty(v), 'is required')
  .refine((v) => v.length <= MAX_ID, `must be at most ${MAX_ID} characters`)
  .refine((v) => CONTROL_ID_PATTERN.test(v), 'must start with a letter or digit and contain only letters, digits and . _ ( ) / - (e.g. AC-2.1)');

const optionalControlId = z.string().transform((v, ctx) => {
  if (empty(v)) return null;
  if (v.length > MAX_ID || !CONTROL_ID_PATTERN.test(v)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a control id (at most ${MAX_ID} letters, digits and . _ ( ) / -)` });
    return z.NEVER;
  }
  return v;
});

const title = z
  .string()
  .refine((v) => !empty(v), 'is required')
  .refine((v) => v.length <= MAX_TITLE, `must be at most ${MAX_TITLE} characters`);

const optionalText = z.string().transform((v) => (empty(v) ? null : v));

const optionalId = z.string().transform((v) => (empty(v) ? null : v.trim()));

const TRUE = new Set(['true', 'yes', '1']);
const FALSE = new Set(['false', 'no', '0']);
const bool = z.string().transform((v, ctx) => {
  const s = v.trim().toLowerCase();
  if (s === '') return null;
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a boolean: expected true/false, yes/no or 1/0` });
  return z.NEVER;
});

function oneOf<const T extends readonly string[]>(values: T) {
  const allowed = new Set<string>(values);
  return z.string().transform((v, ctx): T[number] | null => {
    const s = v.trim().toLowerCase();
    if (s === '') return null;
    if (allowed.has(s)) return s as T[number];
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not one of ${values.join(', ')}` });
    return z.NEVER;
  });
}

const date = z.string().transform((v, ctx) => {
  const s = v.trim();
  if (s === '') return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  // Date.UTC rolls 2026-02-30 over to March; comparing back rejects dates that do not exist.
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !d || d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a date: expected YYYY-MM-DD` });
    return z.NEVER;
  }
  return s;
});

/** A ';'-separated list: items trimmed, empty items dropped, duplicates removed (order kept). */
const list = z.string().transform((v) => {
  if (empty(v)) return [] as string[];
  return [...new Set(v.split(';').map((s) => s.trim()).filter((s) => s !== ''))];
});

/**
 * Ids sorted by code unit, which for the ids seen in practice is the order of `collate "C"`: how
 * ingestion compares a row's links with the current ones (applyControlRelations).
 */
const idList = list.pipe(z.array(z.string().max(200, 'has an id longer than 200 characters'))).transform((ids) => ids.sort());

const rowSchema = z.object({
  control_id: controlId,
  title,
  description: optionalText,
  parent_control_id: optionalControlId,
  family_id: optionalText,
  family: optionalText,
  key_control: bool,
  control_type: oneOf(CONTROL_TYPES),
  execution: oneOf(EXECUTIONS),
  frequency: oneOf(FREQUENCIES),
  status: oneOf(STATUSES).transform((v) => v ?? 'active'),
  owner: optionalText,
  effective_date: date,
  review_date: date,
  sox_relevant: bool,
  gdpr_relevant: bool,
  regulatory_references: list,
  owning_function_id: optionalId,
  owning_location_id: optionalId,
  related_function_ids: idList,
  related_location_ids: idList,
  risk_theme_ids: idList,
} satisfies Record<ControlColumn, z.ZodType>);

export type ControlRow = z.output<typeof rowSchema>;

/**
 * Columns of the staging table, in COPY order: the CSV line, the row, the text hash, and whether
 * the row was rejected (rejected rows are staged too, with only line and id, so that set-based
 * checks see every id in the file: duplicates, and --close-missing never closes a rejected one).
 */
export const STAGING_COLUMNS = ['line', ...CONTROL_COLUMNS, 'text_hash', 'rejected'] as const;

export type StagingValues = readonly (string | number | boolean | null | readonly string[])[];

export type RowResult = { readonly ok: true; readonly row: ControlRow; readonly values: StagingValues; readonly controlId: string } | { readonly ok: false; readonly errors: readonly RowError[]; readonly controlId: string | null };

/**
 * Validates one record (fields in file order) that starts at `line`. On success returns the
 * staging values (STAGING_COLUMNS order) with the text hash; otherwise every problem of the row.
 * `controlId` is the row's id when it is a well-formed one (even if another field is bad), so a
 * rejected row can still be named.
 */
export function validateRecord(layout: HeaderLayout, fields: readonly string[], line: number): RowResult {
  const rawId = layout.control_id === undefined ? undefined : fields[layout.control_id];
  const knownId = rawId !== undefined && rawId.length <= MAX_ID && CONTROL_ID_PATTERN.test(rawId) ? rawId : null;
  if (fields.length !== layout.width) {
    return { ok: false, controlId: knownId, errors: [{ line, field: '(row)', message: `has ${fields.length} fields, the header has ${layout.width}` }] };
  }
  const input: Record<string, string> = {};
  const errors: RowError[] = [];
  for (const column of CONTROL_COLUMNS) {
    const i = layout[column];
    const v = i === undefined ? '' : (fields[i] ?? '');
    // csv-parse decodes invalid UTF-8 to U+FFFD rather than failing; catch it here, per field.
    if (v.includes('\uFFFD')) errors.push({ line, field: column, message: 'is not valid UTF-8 (or contains U+FFFD)' });
    if (v.length > MAX_FIELD_CHARS) errors.push({ line, field: column, message: `is ${v.length.toLocaleString('en-US')} characters; at most ${MAX_FIELD_CHARS.toLocaleString('en-US')}` });
    // PostgreSQL text cannot hold NUL; caught here it is this row's error, not a failed COPY.
    if (v.includes('\u0000')) errors.push({ line, field: column, message: 'contains a NUL byte (\\u0000), which PostgreSQL text cannot hold' });
    input[column] = v;
  }
  const parsed = rowSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) errors.push({ line, field: String(issue.path[0] ?? '(row)'), message: issue.message });
  }
  if (errors.length > 0 || !parsed.success) return { ok: false, controlId: knownId, errors };
  const r = parsed.data;
  if (r.parent_control_id !== null && r.parent_control_id === r.control_id) {
    return { ok: false, controlId: knownId, errors: [{ line, field: 'parent_control_id', message: 'a control cannot be its own parent' }] };
  }
  const values: StagingValues = [
    line,
    r.control_id,
    r.title,
    r.description,
    r.parent_control_id,
    r.family_id,
    r.family,
    r.key_control,
    r.control_type,
    r.execution,
    r.frequency,
    r.status,
    r.owner,
    r.effective_date,
    r.review_date,
    r.sox_relevant,
    r.gdpr_relevant,
    r.regulatory_references,
    r.owning_function_id,
    r.owning_location_id,
    r.related_function_ids,
    r.related_location_ids,
    r.risk_theme_ids,
    textHash(controlText(r.title, r.description)),
    false,
  ];
  return { ok: true, row: r, values, controlId: r.control_id };
}

/** Staging values of a rejected row: only its line and (if readable) its id, flagged rejected. */
export function rejectedValues(line: number, controlId: string | null): StagingValues {
  return [line, controlId, ...new Array<null>(STAGING_COLUMNS.length - 3).fill(null), true];
}
