/** Context provider folders built in code, and fingerprints of the src_ tables they load into. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

export type ContextFileKey = 'functions' | 'locations' | 'consolidated' | 'themes' | 'units';

const FILES: Record<ContextFileKey, { provider: string; file: string }> = {
  functions: { provider: 'organization', file: 'functions.jsonl' },
  locations: { provider: 'organization', file: 'locations.jsonl' },
  consolidated: { provider: 'organization', file: 'consolidated.jsonl' },
  themes: { provider: 'risk_theme', file: 'risk_theme.jsonl' },
  units: { provider: 'assessment_unit', file: 'assessment_units.jsonl' },
};

/** One file's contents: records (written one JSON per line) or raw text (for broken files). */
export type FileContent = readonly Record<string, unknown>[] | string;
export type ContextData = Partial<Record<ContextFileKey, FileContent>>;

/** A small but complete organisation: trees two levels deep, themes with parents, two taxonomies. */
export function baseContext(): Record<ContextFileKey, Record<string, unknown>[]> {
  return {
    functions: [
      { id: 'F-ROOT', id_type: 'function', id_status: 'active', name: 'Group', out_id: ['F-OPS', 'F-TECH'] },
      { id: 'F-OPS', id_type: 'function', id_status: 'active', name: 'Operations', out_id: ['F-OPS-1'] },
      { id: 'F-TECH', id_type: 'function', id_status: 'active', name: 'Technology', out_id: [] },
      { id: 'F-OPS-1', id_type: 'function', id_status: 'active', name: 'Payments operations', out_id: [] },
    ],
    locations: [
      { id: 'L-GLOBAL', id_type: 'region', location_name: ['Global'], location_status: 'active', out_id: ['L-UK', 'L-US'] },
      { id: 'L-UK', id_type: 'country', location_name: ['Global', 'United Kingdom'], location_status: 'active', out_id: [] },
      { id: 'L-US', id_type: 'country', location_name: ['Global', 'United "States"'], location_status: 'active', out_id: [] },
    ],
    consolidated: [
      { location_id: 'C-ROOT', location_name: ['Consolidated'], location_status: 'active', out_id: ['C-EU'] },
      { location_id: 'C-EU', location_name: ['Consolidated', 'Europe, Middle East\tand Africa'], location_status: 'active', out_id: [] },
    ],
    themes: [
      theme('TX-OPS', 'Operational risk', 'RT-1', 'Process failure', null),
      theme('TX-OPS', 'Operational risk', 'RT-2', 'Payment processing error', 'RT-1'),
      { ...theme('TX-OPS', 'Operational risk', 'RT-3', 'Legacy manual processing', 'RT-1'), status: 'Expired' },
      theme('TX-CYB', 'Cyber risk', 'RT-4', 'Unauthorised access', null),
    ],
    units: [
      { id: 'AU-1', name: 'UK payments', description: 'Payments in the UK', function_id: 'F-OPS-1', location_id: 'L-UK', location_type: 'location' },
      { id: 'AU-2', name: 'EMEA technology', description: null, function_id: 'F-TECH', location_id: 'C-EU', location_type: 'consolidated' },
    ],
  };
}

export function theme(taxonomyId: string, taxonomy: string, id: string, name: string, parent: string | null): Record<string, unknown> {
  return {
    taxonomy_id: taxonomyId,
    taxonomy,
    taxonomy_description: `${taxonomy} taxonomy`,
    risk_theme_id: id,
    risk_theme: name,
    risk_theme_description: `${name}: description`,
    risk_theme_mapping_considerations: `Map controls about ${name.toLowerCase()}`,
    status: 'Active',
    parent_id: parent,
  };
}

/** Writes `data` as the `date` folder of each provider it has files for. */
export function writeContext(root: string, date: string, data: ContextData): void {
  for (const [key, content] of Object.entries(data) as [ContextFileKey, FileContent | undefined][]) {
    if (content === undefined) continue;
    const { provider, file } = FILES[key];
    const dir = path.join(root, provider, date);
    mkdirSync(dir, { recursive: true });
    const text = typeof content === 'string' ? content : content.map((r) => JSON.stringify(r) + '\n').join('');
    writeFileSync(path.join(dir, file), text);
  }
}

/** Row count, closed-version count and latest tx_from/tx_to of every src_ table: any write changes it. */
export async function srcFingerprint(url: string): Promise<Record<string, { rows: number; closed: number; max_tx_from: string | null; max_tx_to: string | null }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ name: string; has_tx: boolean }>(
      `select c.relname as name, exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tx_to' and not a.attisdropped) as has_tx
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'r' and c.relname like 'src\\_%' order by 1`,
    );
    const out: Record<string, { rows: number; closed: number; max_tx_from: string | null; max_tx_to: string | null }> = {};
    for (const t of tables.rows) {
      const table = pg.escapeIdentifier(t.name);
      const r = await client.query<{ rows: number; closed: number; max_tx_from: string | null; max_tx_to: string | null }>(
        t.has_tx
          ? `select count(*)::int as rows, count(tx_to)::int as closed, max(tx_from)::text as max_tx_from, max(tx_to)::text as max_tx_to from ${table}`
          : `select count(*)::int as rows, 0 as closed, null::text as max_tx_from, null::text as max_tx_to from ${table}`,
      );
      out[t.name] = r.rows[0]!;
    }
    return out;
  } finally {
    await client.end().catch(() => {});
  }
}
