/**
 * `nfr sample nist`: the NIST SP 800-53 rev5 HIGH baseline turned into the product's inputs. The
 * catalog's ids, titles, texts and parent links are kept; everything the catalog lacks (owners,
 * locations, classification, dates, flags) is derived from a hash of the control id, so the output
 * is byte-for-byte the same on every run.
 */
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse';
import { z } from 'zod';
import { NfrError } from '../errors.js';
import { type AssessmentUnitRecord, type RiskThemeRecord, consolidatedRecords, flatten, functionRecords, locationRecords, writeContext } from './context.js';
import { CONTROL_ID_MAX, CONTROL_ID_PATTERN, CONTROLS_HEADER, type ControlRecord, type ControlType, type Execution, type Frequency, TITLE_MAX, controlLine } from './controls-csv.js';
import { consolidatedTree, locationTree } from './geography.js';
import { FUNCTION_OWNERS, NIST_CLASSES, NIST_FAMILIES, NIST_HUBS, NIST_SITES, type NistFamily, nistFunctionTree } from './nist-catalog.js';
import { type SampleSummary, checkOutDir, dayString, epochDay, parseSampleDate, summarizeFiles } from './options.js';
import { type Random, randomFor } from '../util/random.js';
import { AtomicTextFile, type SampleFile } from './writer.js';

/** The catalog shipped in the repository; located from this module (dist/src/sample/), never the cwd. */
export const NIST_SOURCE = fileURLToPath(new URL('../../../samples/nist-800-53r5-high.csv', import.meta.url));

const SOURCE_COLUMNS = ['control_id', 'parent_control_id', 'control_title', 'control_description', 'family_id', 'family'] as const;

const sourceRow = z.object({
  control_id: z.string().max(CONTROL_ID_MAX).regex(CONTROL_ID_PATTERN, 'not a control id'),
  parent_control_id: z.string().regex(CONTROL_ID_PATTERN, 'not a control id').or(z.literal('')),
  control_title: z.string().min(1, 'empty').max(TITLE_MAX),
  control_description: z.string(),
  family_id: z.string().refine((f) => f in NIST_FAMILIES, 'not an 800-53 family of the HIGH baseline'),
  family: z.string().min(1, 'empty'),
});
export type SourceRow = z.infer<typeof sourceRow>;

export const NIST_TAXONOMY = {
  taxonomy_id: 'NIST-800-53',
  taxonomy: 'NIST SP 800-53 rev5 control families',
  taxonomy_description:
    'Risk themes named after the 18 control families of the NIST SP 800-53 rev5 HIGH baseline, grouped under the technical, operational and management classes of earlier revisions.',
} as const;

export const themeId = (familyId: string): string => `RT-${familyId}`;

/** Writes DIR/context/ and DIR/controls.csv from the NIST catalog. */
export async function writeNistSample(options: { outDir: string; date?: string; source?: string }): Promise<SampleSummary> {
  const startedAt = Date.now();
  const outDir = checkOutDir(options.outDir);
  const date = parseSampleDate(options.date);
  const source = options.source ?? NIST_SOURCE;
  const functions = flatten(nistFunctionTree());
  const functionNames = new Map(functions.map((f) => [f.node.id, f.node.name]));
  const locationPaths = new Map(flatten(locationTree()).map((l) => [l.node.id, l.path]));
  const units = new Map<string, AssessmentUnitRecord>();
  const families = new Map<string, string>();
  let controls = 0;

  // controls.csv is committed last, so a run that fails half-way never leaves controls without their context.
  const out = await AtomicTextFile.open(outDir, 'controls.csv');
  let context: SampleFile[];
  try {
    await out.write(CONTROLS_HEADER, 0);
    for await (const row of readSource(source)) {
      const c = nistControl(row, date);
      families.set(row.family_id, row.family);
      const key = `${c.owning_function_id}|${c.owning_location_id}`;
      if (!units.has(key)) units.set(key, assessmentUnit(c.owning_function_id, c.owning_location_id, functionNames, locationPaths));
      await out.write(controlLine(c));
      controls++;
    }
    const themes: RiskThemeRecord[] = [
      ...NIST_CLASSES.map((k) => theme(k.id, k.name, k.description, k.considerations, null)),
      ...[...families].map(([id, name]) => {
        const f = NIST_FAMILIES[id] as NistFamily;
        return theme(themeId(id), name, f.description, f.considerations, f.class);
      }),
    ];
    context = await writeContext(outDir, date, {
      functions: functionRecords(nistFunctionTree()),
      locations: locationRecords(locationTree()),
      consolidated: consolidatedRecords(consolidatedTree()),
      riskThemes: themes,
      // Code-unit order, not localeCompare: the bytes must not depend on the machine's locale.
      assessmentUnits: [...units.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    });
  } catch (err) {
    await out.abort();
    throw err;
  }
  const controlsFile = await out.commit();
  return summarizeFiles('nist', outDir, date, null, controls, [...context, controlsFile], startedAt);
}

/** The catalog's rows, streamed and validated; a bad row names the file, line and field. */
async function* readSource(file: string): AsyncGenerator<SourceRow> {
  const parser = parse({ columns: true, info: true, bom: true });
  // pipe() does not forward errors: a missing file must fail the parser, not crash the process.
  const input = createReadStream(file).on('error', (err) => parser.destroy(err));
  input.pipe(parser);
  let header = true;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number; columns: { name: string }[] | boolean } }>) {
      if (header) {
        const names = Array.isArray(info.columns) ? info.columns.map((c) => c.name) : [];
        if (names.join(',') !== SOURCE_COLUMNS.join(',')) throw new NfrError('INVALID_INPUT', `${file}: expected the columns ${SOURCE_COLUMNS.join(',')}, found ${names.join(',')}`);
        header = false;
      }
      const r = sourceRow.safeParse(record);
      if (!r.success) {
        const issue = r.error.issues[0];
        throw new NfrError('INVALID_INPUT', `${file} line ${info.lines}: field ${String(issue?.path[0] ?? '?')}: ${issue?.message ?? 'invalid'}`);
      }
      yield r.data;
    }
  } catch (err) {
    if (err instanceof NfrError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NfrError('NOT_FOUND', `the NIST catalog ${file} is missing; it ships in the repository's samples/ folder`, { cause: err });
    throw new NfrError('INVALID_INPUT', `${file}: ${(err as Error).message}`, { cause: err });
  }
}

function theme(id: string, name: string, description: string, considerations: string, parent: string | null): RiskThemeRecord {
  return {
    ...NIST_TAXONOMY,
    risk_theme_id: id,
    risk_theme: name,
    risk_theme_description: description,
    risk_theme_mapping_considerations: considerations,
    status: 'Active',
    parent_id: parent,
  };
}

function assessmentUnit(functionId: string, locationId: string, functionNames: Map<string, string>, locationPaths: Map<string, readonly string[]>): AssessmentUnitRecord {
  const fnName = functionNames.get(functionId);
  const place = locationPaths.get(locationId);
  if (fnName === undefined || place === undefined) throw new Error(`sample catalog refers to an unknown function ${functionId} or location ${locationId}`);
  const city = place[place.length - 1] ?? locationId;
  return {
    id: `AU-${functionId.slice(3)}-${locationId.slice(4)}`,
    name: `${fnName} ${city}`,
    description: `Controls owned by ${fnName} and operated from ${place.slice(1).join(', ')}.`,
    function_id: functionId,
    location_id: locationId,
    location_type: 'location',
  };
}

/** 'AC-2.1' as NIST writes it in references: 'AC-2(1)'. */
export function nistReference(controlId: string): string {
  const m = /^([A-Z]{2}-\d+)\.(\d+)$/.exec(controlId);
  return `NIST SP 800-53 rev5 ${m ? `${m[1]}(${m[2]})` : controlId}`;
}

const CORRECTIVE = /recover|restor|backup|remediat|reconstitut|response|handling|sanction|sanitiz|spill|failover|alternate/i;
const DETECTIVE = /monitor|audit|review|scan|detect|alert|analy|inspect|assess|test|hunt|correlat|inventory|integrity verification|record|logging/i;
const AUTOMATED = /automat|mechanism|cryptograph|real-time|dynamic|\btool/i;

function controlType(row: SourceRow, r: Random): ControlType {
  if (CORRECTIVE.test(row.control_title)) return 'corrective';
  if (DETECTIVE.test(row.control_title)) return 'detective';
  if (['CP', 'IR'].includes(row.family_id)) return 'corrective';
  if (['AU', 'CA', 'RA'].includes(row.family_id)) return 'detective';
  return r.chance(0.9) ? 'preventative' : 'detective';
}

function execution(row: SourceRow, isPolicy: boolean, r: Random): Execution {
  if (isPolicy) return 'manual';
  if (AUTOMATED.test(row.control_title) || /^(Automatically|Employ automated)/.test(row.control_description)) return 'automated';
  if (['AC', 'AU', 'IA', 'SC', 'SI'].includes(row.family_id)) return r.chance(0.6) ? 'semi-automated' : 'automated';
  return r.chance(0.8) ? 'manual' : 'semi-automated';
}

function frequency(row: SourceRow, isPolicy: boolean, type: ControlType, exec: Execution, r: Random): Frequency {
  const title = row.control_title;
  if (isPolicy) return 'annual';
  if (/training|awareness|plan\b|exercise|testing/i.test(title)) return 'annual';
  if (/incident|handling|reporting|termination|transfer|visitor|spill|emergency/i.test(title) || type === 'corrective') return 'event-driven';
  if (exec === 'automated' || /monitor/i.test(title)) return r.chance(0.7) ? 'continuous' : 'daily';
  if (/review|assessment|audit|inventory/i.test(title)) return r.pick(['monthly', 'quarterly', 'quarterly', 'semi-annual'] as const);
  return r.pick(['weekly', 'monthly', 'quarterly', 'semi-annual', 'annual', 'ad-hoc'] as const);
}

function weighted(r: Random, items: readonly { id: string; weight: number }[]): string {
  let x = r.next() * items.reduce((s, i) => s + i.weight, 0);
  for (const i of items) if ((x -= i.weight) < 0) return i.id;
  return (items[items.length - 1] as { id: string }).id;
}

/** A catalog row with the attributes a firm would record for it. */
export function nistControl(row: SourceRow, date: string): ControlRecord {
  const r = randomFor(row.control_id);
  const family = NIST_FAMILIES[row.family_id] as NistFamily;
  const isPolicy = /-1$/.test(row.control_id) && /Polic(y|ies) and Procedures/.test(row.control_title);
  const enhancement = row.parent_control_id !== '';
  const keyControl = !isPolicy && r.chance(enhancement ? 0.1 : 0.4);
  const type = controlType(row, r);
  const exec = execution(row, isPolicy, r);
  const owningFunction = isPolicy || r.chance(0.75) ? family.functions[0] : r.pick(family.functions);
  const owners = FUNCTION_OWNERS[owningFunction] ?? ['Control Owner'];
  const owningLocation = row.family_id === 'PE' ? r.pick(NIST_SITES) : weighted(r, NIST_HUBS);
  const relatedFunctions = family.functions.filter((f) => f !== owningFunction && r.chance(0.35));
  if (keyControl && owningFunction !== 'FN-TRM' && r.chance(0.3)) relatedFunctions.push('FN-TRM');
  const relatedLocations = NIST_HUBS.map((h) => h.id).filter((l) => l !== owningLocation && r.chance(0.15)).slice(0, 2);
  const sox = family.sox && (keyControl || r.chance(0.5));
  const gdpr = r.chance(family.gdpr);
  const references = [nistReference(row.control_id)];
  if (r.chance(0.6)) references.push(`ISO/IEC 27001:2022 ${r.pick(family.iso27001)}`);
  if (sox) references.push('SOX 404 ITGC');
  if (gdpr) references.push('GDPR Art. 32');

  // Effective 200-1300 days before the sample date; next review one cycle past it.
  const today = epochDay(date);
  const effective = today - r.between(200, 1300);
  const cycle = keyControl ? 182 : 365;
  const review = effective + cycle * Math.ceil((today - effective) / cycle);
  return {
    control_id: row.control_id,
    title: row.control_title,
    description: row.control_description,
    parent_control_id: enhancement ? row.parent_control_id : null,
    family_id: row.family_id,
    family: row.family,
    key_control: keyControl,
    control_type: type,
    execution: exec,
    frequency: frequency(row, isPolicy, type, exec, r),
    status: enhancement && r.chance(0.04) ? 'draft' : 'active',
    owner: isPolicy ? owners[0] : r.pick(owners),
    effective_date: dayString(effective),
    review_date: dayString(review),
    sox_relevant: sox,
    gdpr_relevant: gdpr,
    regulatory_references: references,
    owning_function_id: owningFunction,
    owning_location_id: owningLocation,
    related_function_ids: relatedFunctions,
    related_location_ids: relatedLocations,
    risk_theme_ids: [themeId(row.family_id)],
  };
}
