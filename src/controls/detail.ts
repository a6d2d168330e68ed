/**
 * One control as a reader sees it: its attributes, owning function and location, related
 * functions and locations, linked risk themes, enrichment outputs and its version history, as
 * of now or of any earlier moment (the transaction-time columns of SPEC §3 hold every state).
 */
import type pg from 'pg';
import { NfrError } from '../errors.js';
import type { z } from 'zod';
import type { controlDetailSchema } from './shapes.js';

/**
 * Control ids as ingestion accepts them (letters, digits and `. _ ( ) / -`: NIST's enhancements
 * are written AC-2(1)), and the `:` of older ids.
 */
const CONTROL_ID = /^[A-Za-z0-9._:()/-]{1,128}$/;

/** Defined once, in controls/shapes.ts (the API's response schema is generated from it). */
export type ControlDetail = z.infer<typeof controlDetailSchema>;

/** `date` columns: pg reads them as local midnight, shown as the calendar day they hold. */
const DATE_COLUMNS = new Set(['effective_date', 'review_date']);

function calendarDate(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** Parses `as_of`; an unparseable moment is the caller's error, not "now". */
export function parseAsOf(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (!Number.isFinite(t)) throw new NfrError('INVALID_INPUT', `as_of "${value.slice(0, 64)}" (--as-of; as_of in the API) is not a timestamp: expected ISO 8601, e.g. 2026-11-30T12:00:00Z`);
  return new Date(t);
}

/** The control as it was at `asOf` (default: now); NOT_FOUND when it did not exist then. */
export async function controlDetail(client: pg.ClientBase, controlId: string, asOf?: Date): Promise<ControlDetail> {
  if (!CONTROL_ID.test(controlId)) throw new NfrError('INVALID_INPUT', `control id "${controlId.slice(0, 64)}": expected 1–128 letters, digits or . _ : ( ) / -`);
  const at = asOf ?? new Date();
  // One timestamp for every table, so the parts describe the same moment.
  const during = (alias: string) => `${alias}.tx_from <= $2 and (${alias}.tx_to is null or ${alias}.tx_to > $2)`;
  const version = await client.query(
    `select v.*, f.name as owning_function_name, l.location_name[1] as owning_location_name
       from src_controls_ver_control v
       left join src_orgs_ver_function f on f.function_id = v.owning_function_id and ${during('f')}
       left join src_orgs_ver_location l on l.location_id = v.owning_location_id and ${during('l')}
      where v.control_id = $1 and ${during('v')}`,
    [controlId, at],
  );
  const row = version.rows[0] as Record<string, unknown> | undefined;
  if (!row) {
    const known = await client.query('select 1 from src_controls_ref_control where control_id = $1', [controlId]);
    const when = asOf ? ` as of ${at.toISOString()}` : '';
    throw new NfrError('NOT_FOUND', known.rowCount ? `control ${controlId} had no current version${when} (it is closed or not yet loaded then)` : `no control ${controlId}`);
  }
  // One after another: a client runs one query at a time (pg would queue them, and warns that it
  // will stop doing so).
  const functions = await client.query<{ id: string; name: string | null }>(
    `select r.function_id as id, f.name from src_controls_rel_related_function r
       left join src_orgs_ver_function f on f.function_id = r.function_id and ${during('f')}
      where r.control_id = $1 and ${during('r')} order by 1`,
    [controlId, at],
  );
  const locations = await client.query<{ id: string; name: string | null }>(
    `select r.location_id as id, l.location_name[1] as name from src_controls_rel_related_location r
       left join src_orgs_ver_location l on l.location_id = r.location_id and ${during('l')}
      where r.control_id = $1 and ${during('r')} order by 1`,
    [controlId, at],
  );
  const themes = await client.query<{ id: string; name: string | null; status: string | null }>(
    `select r.risk_theme_id as id, t.name, t.status from src_controls_rel_risk_theme r
       left join src_risks_ver_theme t on t.risk_theme_id = r.risk_theme_id and ${during('t')}
      where r.control_id = $1 and ${during('r')} order by 1`,
    [controlId, at],
  );
  const enrichment = await client.query<{ summary: string; keywords: string[]; model_name: string; model_version: string }>(
    'select summary, keywords, model_name, model_version from ai_controls_enrichment where control_id = $1 and text_hash = $2',
    [controlId, row.text_hash],
  );
  const mapping = await client.query<{ risk_theme_id: string; name: string | null; score: number; rank: number }>(
    `select m.risk_theme_id, t.name, m.score, m.rank from ai_controls_taxonomy_mapping m
       left join src_risks_ver_theme t on t.risk_theme_id = m.risk_theme_id and t.tx_to is null
      where m.control_id = $1 and m.text_hash = $2 order by m.rank`,
    [controlId, row.text_hash],
  );
  const history = await client.query<{ version_id: string; title: string; status: string | null; upload_id: string | null; tx_from: Date; tx_to: Date | null }>(
    'select version_id::text, title, status, upload_id, tx_from, tx_to from src_controls_ver_control where control_id = $1 order by tx_from desc limit 100',
    [controlId],
  );
  const { owning_function_name, owning_location_name, version_id: _v, control_id: _c, ...attributes } = row;
  const enriched = enrichment.rows[0];
  return {
    control_id: controlId,
    as_of: at.toISOString(),
    attributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, v instanceof Date ? (DATE_COLUMNS.has(k) ? calendarDate(v) : v.toISOString()) : v])),
    owning_function: row.owning_function_id ? { id: String(row.owning_function_id), name: (owning_function_name as string | null) ?? null } : null,
    owning_location: row.owning_location_id ? { id: String(row.owning_location_id), name: (owning_location_name as string | null) ?? null } : null,
    related_functions: functions.rows,
    related_locations: locations.rows,
    risk_themes: themes.rows,
    enrichment: enriched
      ? { summary: enriched.summary, keywords: enriched.keywords, model: `${enriched.model_name}@${enriched.model_version}`, taxonomy_mapping: mapping.rows.map((m) => ({ ...m, score: Number(m.score) })) }
      : null,
    history: history.rows.map((h) => ({ ...h, version_id: Number(h.version_id), tx_from: h.tx_from.toISOString(), tx_to: h.tx_to?.toISOString() ?? null })),
  };
}
