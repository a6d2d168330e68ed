/**
 * The product's controls CSV as the sample commands write it: the column order, the enumerations,
 * and RFC 4180 encoding (UTF-8 without BOM, '\n' line ends, lists joined with ';').
 */

import { stringify } from 'csv-stringify/sync';
// One definition of the format: the ingester's. The sample writers follow it exactly.
import { CONTROL_COLUMNS, CONTROL_ID_PATTERN, CONTROL_TYPES, EXECUTIONS, FREQUENCIES, STATUSES as CONTROL_STATUSES } from '../ingest/controls-csv.js';

export { CONTROL_COLUMNS, CONTROL_ID_PATTERN, CONTROL_STATUSES, CONTROL_TYPES, EXECUTIONS, FREQUENCIES };

export type ControlType = (typeof CONTROL_TYPES)[number];
export type Execution = (typeof EXECUTIONS)[number];
export type Frequency = (typeof FREQUENCIES)[number];
export type ControlStatus = (typeof CONTROL_STATUSES)[number];

export const CONTROL_ID_MAX = 64;
export const TITLE_MAX = 500;

/** One control, as a row of the CSV. Dates are YYYY-MM-DD. */
export interface ControlRecord {
  readonly control_id: string;
  readonly title: string;
  readonly description: string;
  readonly parent_control_id: string | null;
  readonly family_id: string;
  readonly family: string;
  readonly key_control: boolean;
  readonly control_type: ControlType;
  readonly execution: Execution;
  readonly frequency: Frequency;
  readonly status: ControlStatus;
  readonly owner: string;
  readonly effective_date: string;
  readonly review_date: string;
  readonly sox_relevant: boolean;
  readonly gdpr_relevant: boolean;
  readonly regulatory_references: readonly string[];
  readonly owning_function_id: string;
  readonly owning_location_id: string;
  readonly related_function_ids: readonly string[];
  readonly related_location_ids: readonly string[];
  readonly risk_theme_ids: readonly string[];
}

/**
 * One CSV line, newline included, by csv-stringify: a field is quoted when it holds a comma, a
 * quote, CR or LF, with embedded quotes doubled.
 */
export function csvLine(fields: readonly string[]): string {
  return stringify([fields], CSV_OPTIONS);
}

/**
 * csv-stringify quotes a field holding the record delimiter, but not a lone CR or LF inside
 * one; any reader would split the row there, so quoted_match quotes those too.
 */
export const CSV_OPTIONS = { record_delimiter: 'unix', quoted_match: /[\r\n]/ } as const;

/** The header line, newline included. */
export const CONTROLS_HEADER = csvLine(CONTROL_COLUMNS);

/** One control as a CSV line, newline included. List items must not contain ';'. */
export function controlLine(c: ControlRecord): string {
  const fields: string[] = [
    c.control_id,
    c.title,
    c.description,
    c.parent_control_id ?? '',
    c.family_id,
    c.family,
    String(c.key_control),
    c.control_type,
    c.execution,
    c.frequency,
    c.status,
    c.owner,
    c.effective_date,
    c.review_date,
    String(c.sox_relevant),
    String(c.gdpr_relevant),
    c.regulatory_references.join(';'),
    c.owning_function_id,
    c.owning_location_id,
    c.related_function_ids.join(';'),
    c.related_location_ids.join(';'),
    c.risk_theme_ids.join(';'),
  ];
  return csvLine(fields);
}
