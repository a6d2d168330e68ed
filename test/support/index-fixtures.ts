/**
 * Controls written straight into the schema for the index tests, with the real text hash
 * (controlText/textHash) that ingestion writes, since sync compares hashes. Set-based: one
 * INSERT ... SELECT FROM unnest per table, never a row loop.
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { controlText, textHash } from '../../src/ingest/text.js';
import { targetFromUrl } from '../../src/postgres/connection.js';
import { migrateToHead } from '../../src/postgres/migrate.js';
import { withUrl } from './data.js';
// The repository's copy of ../shared/datasets/nist-800-53r5-high.csv, so tests run from any checkout.
import { NIST_CSV } from './enrich-fixtures.js';


export interface ControlSeed {
  readonly control_id: string;
  readonly title: string;
  readonly description?: string | null;
  readonly status?: string | null;
  readonly parent_control_id?: string | null;
  readonly family_id?: string | null;
  readonly risk_theme_ids?: readonly string[];
}

export { withUrl };

/** Migrates the database and inserts the controls (and their risk themes) as current versions. */
export async function seedControls(url: string, controls: readonly ControlSeed[]): Promise<void> {
  await migrateToHead(targetFromUrl(url));
  await withUrl(url, async (c) => {
    await c.query('begin');
    const col = <K extends keyof ControlSeed>(k: K) => controls.map((x) => x[k] ?? null);
    await c.query('insert into src_controls_ref_control (control_id) select unnest($1::text[])', [col('control_id')]);
    await c.query(
      `insert into src_controls_ver_control (control_id, title, description, status, parent_control_id, family_id, text_hash)
       select id, title, descr, status, parent, family, th
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) as u(id, title, descr, status, parent, family, th)`,
      [col('control_id'), col('title'), col('description'), controls.map((x) => x.status ?? 'active'), col('parent_control_id'), col('family_id'), controls.map(hashOf)],
    );
    const links = controls.flatMap((x) => (x.risk_theme_ids ?? []).map((t) => [x.control_id, t] as const));
    if (links.length) {
      await c.query('insert into src_risks_ref_theme (risk_theme_id) select distinct unnest($1::text[]) on conflict do nothing', [links.map((l) => l[1])]);
      await c.query('insert into src_controls_rel_risk_theme (control_id, risk_theme_id) select * from unnest($1::text[], $2::text[])', [links.map((l) => l[0]), links.map((l) => l[1])]);
    }
    await c.query('commit');
  });
}

export function hashOf(c: Pick<ControlSeed, 'title' | 'description'>): string {
  return textHash(controlText(c.title, c.description ?? null));
}

/** `count` synthetic controls CTL-001... with distinct text. */
export function syntheticControls(count: number): ControlSeed[] {
  const topics = ['password rotation', 'firewall rules review', 'vendor due diligence', 'backup restore testing', 'privileged access review', 'incident escalation', 'change approval board', 'data retention schedule'];
  return Array.from({ length: count }, (_, i) => ({
    control_id: `CTL-${String(i + 1).padStart(3, '0')}`,
    title: `Control ${i + 1}: ${topics[i % topics.length]}`,
    description: `Perform ${topics[(i * 3) % topics.length]} for business line ${i % 5} every ${1 + (i % 4)} months.`,
    status: i % 10 === 9 ? 'retired' : 'active',
    risk_theme_ids: i % 3 === 0 ? ['RT-ACCESS', 'RT-DATA'] : [],
  }));
}

/** A new version of a control's text: closes the current row and opens one, as ingestion does. */
export async function changeControlText(url: string, controlId: string, title: string, description: string | null): Promise<void> {
  await withUrl(url, async (c) => {
    await c.query('begin');
    const cur = await c.query('update src_controls_ver_control set tx_to = clock_timestamp() where control_id = $1 and tx_to is null returning status', [controlId]);
    if (cur.rowCount !== 1) throw new Error(`no current version of ${controlId}`);
    const th = hashOf({ title, description });
    await c.query(
      `insert into src_controls_ver_control (control_id, title, description, status, text_hash, tx_from)
       values ($1, $2, $3, $4, $5, clock_timestamp())`,
      [controlId, title, description, cur.rows[0].status, th],
    );
    await c.query('commit');
  });
}

/** Closes the current version of the controls (they vanished from the source). */
export async function closeControls(url: string, ids: readonly string[]): Promise<void> {
  await withUrl(url, (c) => c.query('update src_controls_ver_control set tx_to = clock_timestamp() where control_id = any($1) and tx_to is null', [ids]));
}

/** The NIST SP 800-53 rev5 HIGH baseline, parsed for real (quoted fields with commas). */
export async function readNist(): Promise<ControlSeed[]> {
  const out: ControlSeed[] = [];
  const parser = createReadStream(NIST_CSV).pipe(parse({ columns: true, bom: true }));
  for await (const rec of parser as AsyncIterable<Record<string, string>>) {
    out.push({
      control_id: rec.control_id!,
      title: rec.control_title!,
      description: rec.control_description || null,
      parent_control_id: rec.parent_control_id || null,
      family_id: rec.family_id || null,
      risk_theme_ids: [`RT-${rec.family_id}`],
    });
  }
  return out;
}
