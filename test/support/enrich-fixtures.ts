/**
 * Fixtures for the enrichment tests: the NIST SP 800-53 rev5 HIGH controls (streamed from the
 * shared CSV), one risk theme per NIST family, SQL seeding of themes, controls and an upload, and
 * a real OpenAI-compatible embeddings server on node:http.
 */
import { createReadStream } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse';
import { controlText, textHash } from '../../src/ingest/text.js';
import { withUrl } from './data.js';

/** The public-domain NIST catalogue kept in the repository (samples/). */
export const NIST_CSV = fileURLToPath(new URL('../../../samples/nist-800-53r5-high.csv', import.meta.url));

export interface NistControl {
  readonly control_id: string;
  readonly parent_control_id: string;
  readonly control_title: string;
  readonly control_description: string;
  readonly family_id: string;
  readonly family: string;
}

/** The NIST controls, parsed as a stream. */
export async function readNistControls(file = NIST_CSV): Promise<NistControl[]> {
  const out: NistControl[] = [];
  for await (const row of createReadStream(file).pipe(parse({ columns: true, bom: true }))) out.push(row as NistControl);
  return out;
}

/**
 * One theme per NIST family, described in plain words of our own (not copied from the controls),
 * the way a risk team would write its taxonomy.
 */
export const FAMILY_THEMES: readonly { id: string; family: string; description: string; considerations: string }[] = [
  { id: 'AC', family: 'Access Control', description: 'Unauthorised access to systems and data through weak account, permission or remote access management.', considerations: 'Map controls on accounts, least privilege, access enforcement, remote and wireless access, session and device lock.' },
  { id: 'AT', family: 'Awareness and Training', description: 'Staff lack the security and privacy awareness or role-based training to do their job safely.', considerations: 'Map controls on literacy training, role-based training, training records.' },
  { id: 'AU', family: 'Audit and Accountability', description: 'Security-relevant events are not logged, reviewed, protected or retained, so misuse goes unseen.', considerations: 'Map controls on audit logging, audit record review, time stamps, protection and retention of audit information.' },
  { id: 'CA', family: 'Assessment, Authorization, and Monitoring', description: 'Controls are not assessed, systems run without authorisation, or weaknesses are not tracked and monitored.', considerations: 'Map controls on control assessments, plans of action, authorisation, continuous monitoring, penetration testing.' },
  { id: 'CM', family: 'Configuration Management', description: 'Systems drift from secure baselines through uncontrolled changes, settings or installed software.', considerations: 'Map controls on baseline configuration, change control, configuration settings, least functionality, component inventory.' },
  { id: 'CP', family: 'Contingency Planning', description: 'Operations cannot be recovered after a disruption because plans, backups or alternate sites fail.', considerations: 'Map controls on contingency plans and testing, alternate storage and processing sites, system backup and recovery.' },
  { id: 'IA', family: 'Identification and Authentication', description: 'Users, devices or services are not reliably identified and authenticated.', considerations: 'Map controls on user identification, multi-factor authentication, authenticator management, credentials.' },
  { id: 'IR', family: 'Incident Response', description: 'Security incidents are not detected, handled, reported or learned from in time.', considerations: 'Map controls on incident handling, incident response plans, testing, training, reporting and assistance.' },
  { id: 'MA', family: 'Maintenance', description: 'System maintenance is uncontrolled, done by unauthorised personnel or with unsafe tools.', considerations: 'Map controls on controlled, remote and timely maintenance, maintenance tools and personnel.' },
  { id: 'MP', family: 'Media Protection', description: 'Digital or paper media leak information because they are not marked, stored, transported or sanitised properly.', considerations: 'Map controls on media access, marking, storage, transport, sanitization and use.' },
  { id: 'PE', family: 'Physical and Environmental Protection', description: 'Facilities and equipment are exposed to unauthorised physical access or environmental hazards.', considerations: 'Map controls on physical access, visitors, power, fire, water damage, temperature and emergency lighting.' },
  { id: 'PL', family: 'Planning', description: 'Security and privacy plans, rules of behaviour and architectures are missing or outdated.', considerations: 'Map controls on system security plans, rules of behavior, security and privacy architectures.' },
  { id: 'PS', family: 'Personnel Security', description: 'People in sensitive positions are not screened, or access is not removed on termination or transfer.', considerations: 'Map controls on position risk, personnel screening, termination, transfer, access agreements and sanctions.' },
  { id: 'RA', family: 'Risk Assessment', description: 'Risks and vulnerabilities are not identified, categorised or assessed.', considerations: 'Map controls on security categorization, risk assessments, vulnerability monitoring and scanning, threat hunting.' },
  { id: 'SA', family: 'System and Services Acquisition', description: 'Systems and services are acquired or developed without security requirements and engineering.', considerations: 'Map controls on acquisition process, developer security testing, engineering principles, external services.' },
  { id: 'SC', family: 'System and Communications Protection', description: 'Data in transit or at rest and network boundaries are not protected.', considerations: 'Map controls on boundary protection, transmission confidentiality, cryptographic protection, network disconnect.' },
  { id: 'SI', family: 'System and Information Integrity', description: 'Flaws, malicious code and integrity violations are not detected or corrected.', considerations: 'Map controls on flaw remediation, malicious code protection, system monitoring, software and information integrity.' },
  { id: 'SR', family: 'Supply Chain Risk Management', description: 'Suppliers and components introduce risk through the supply chain.', considerations: 'Map controls on supply chain risk management plans, supplier assessments, provenance and component authenticity.' },
];

export const UPLOAD_1 = 'UPL-2026-0001';
export const UPLOAD_2 = 'UPL-2026-0002';
export const UPLOAD_3 = 'UPL-2026-0003';

export const withDb = withUrl;

/** Records upload batches (model outputs reference them). */
export async function seedUploads(url: string, ids: readonly string[]): Promise<void> {
  await withDb(url, (c) => c.query(`insert into nfr_upload (upload_id, kind, status) select unnest($1::text[]), 'controls', 'completed'`, [ids]));
}

/** One active theme per NIST family; ids are THEME-<family id>. */
export async function seedFamilyThemes(url: string): Promise<void> {
  const ids = FAMILY_THEMES.map((t) => `THEME-${t.id}`);
  await withDb(url, async (c) => {
    await c.query('insert into src_risks_ref_theme (risk_theme_id) select unnest($1::text[])', [ids]);
    await c.query(
      `insert into src_risks_ver_theme (risk_theme_id, name, description, mapping_considerations, status)
       select id, name, descr, cons, 'Active' from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as t(id, name, descr, cons)`,
      [ids, FAMILY_THEMES.map((t) => t.family), FAMILY_THEMES.map((t) => t.description), FAMILY_THEMES.map((t) => t.considerations)],
    );
  });
}

/** Current controls written straight into the schema, text hash as ingestion computes it. */
export async function seedControls(url: string, controls: readonly NistControl[]): Promise<void> {
  await withDb(url, async (c) => {
    await c.query('insert into src_controls_ref_control (control_id) select unnest($1::text[])', [controls.map((x) => x.control_id)]);
    await c.query(
      `insert into src_controls_ver_control (control_id, title, description, family_id, family, status, text_hash)
       select id, title, descr, fid, fam, 'active', th
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) as t(id, title, descr, fid, fam, th)`,
      [
        controls.map((x) => x.control_id),
        controls.map((x) => x.control_title),
        controls.map((x) => x.control_description),
        controls.map((x) => x.family_id),
        controls.map((x) => x.family),
        controls.map((x) => textHash(controlText(x.control_title, x.control_description))),
      ],
    );
  });
}

/** A new version of one control's text, the way versioned ingestion writes it (close + open). */
export async function changeControlText(url: string, controlId: string, description: string): Promise<string> {
  return withDb(url, async (c) => {
    await c.query('begin');
    const old = await c.query<{ title: string; family_id: string; family: string }>(
      `update src_controls_ver_control set tx_to = clock_timestamp() where control_id = $1 and tx_to is null returning title, family_id, family`,
      [controlId],
    );
    const row = old.rows[0];
    if (!row) throw new Error(`no current control ${controlId}`);
    const hash = textHash(controlText(row.title, description));
    await c.query(
      `insert into src_controls_ver_control (control_id, title, description, family_id, family, status, text_hash, tx_from)
       values ($1, $2, $3, $4, $5, 'active', $6, clock_timestamp())`,
      [controlId, row.title, description, row.family_id, row.family, hash],
    );
    await c.query('commit');
    return hash;
  });
}

export interface FakeEmbeddingsServer {
  readonly url: string;
  readonly requests: { path: string; authorization: string | undefined; model: string; inputs: number }[];
  close(): Promise<void>;
}

export type Responder = (request: { index: number; inputs: readonly string[] }) => { status: number; body: unknown; headers?: Record<string, string> } | undefined;

/**
 * A real HTTP server speaking the OpenAI embeddings protocol. Vectors are derived from the text
 * (deterministic), data items come back in reverse order with their index (clients must sort).
 * `respond` can override the answer per request (failures, malformed bodies).
 */
export async function startEmbeddingsServer(dimension = 8, respond?: Responder): Promise<FakeEmbeddingsServer> {
  const requests: FakeEmbeddingsServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      let parsed: { model: string; input: string[] };
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; input: string[] };
      } catch {
        return send(400, { error: 'bad json' });
      }
      const index = requests.length;
      requests.push({ path: req.url ?? '', authorization: req.headers.authorization, model: parsed.model, inputs: parsed.input.length });
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') return send(404, { error: `no route ${req.method} ${req.url}` });
      const override = respond?.({ index, inputs: parsed.input });
      if (override) return send(override.status, override.body, override.headers);
      const data = parsed.input.map((text, i) => ({ object: 'embedding', index: i, embedding: fakeVector(text, dimension) }));
      send(200, { object: 'list', model: parsed.model, data: data.reverse() });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A deterministic, not normalised vector of a text (the client normalises). */
export function fakeVector(text: string, dimension: number): number[] {
  const v: number[] = [];
  for (let i = 0; i < dimension; i++) v.push(((text.charCodeAt(i % Math.max(1, text.length)) || 1) % 17) + i + 1);
  return v;
}
