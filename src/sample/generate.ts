/**
 * `nfr sample generate`: realistic context and any number of controls for tests and benchmarks.
 * The same seed gives the same bytes. Controls are streamed row by row with backpressure, so memory
 * stays flat whatever the count; only the context (thousands of records) is held in memory.
 */
import { consolidatedRecords, flatten, functionRecords, locationRecords, writeContext } from './context.js';
import { CONTROLS_HEADER, controlLine } from './controls-csv.js';
import { controlFactory } from './generate-controls.js';
import { functionCount, generateAssessmentUnits, generateFunctionTree, generateThemes, themeCount } from './generate-context.js';
import { consolidatedTree, locationTree } from './geography.js';
import { type SampleSummary, checkControlCount, checkOutDir, checkSeed, epochDay, parseSampleDate, summarizeFiles } from './options.js';
import { seededRandom } from '../util/random.js';
import { writeAtomically } from './writer.js';

export interface GenerateOptions {
  readonly outDir: string;
  /** Number of controls, 1 to 100,000,000. */
  readonly controls: number;
  /** PRNG seed, 0 to 2^32-1 (default 1). */
  readonly seed?: number;
  /** The date folder of the context files, YYYY-MM-DD (default 2026-01-01). */
  readonly date?: string;
  /** Called every 10,000 controls with the number written so far. */
  readonly onProgress?: (written: number) => void;
}

/** Writes DIR/context/ and DIR/controls.csv; resolves to what was written. */
export async function generateSample(options: GenerateOptions): Promise<SampleSummary> {
  const startedAt = Date.now();
  const outDir = checkOutDir(options.outDir);
  const total = checkControlCount(options.controls);
  const seed = checkSeed(options.seed);
  const date = parseSampleDate(options.date);
  const r = seededRandom(seed);

  const functionTree = generateFunctionTree(r, functionCount(total));
  const functions = flatten(functionTree).map((f) => ({ id: f.node.id, name: f.node.name, depth: f.depth }));
  const locations = flatten(locationTree());
  const cities = locations.filter((l) => l.node.type === 'City').map((l) => ({ id: l.node.id, name: l.node.name }));
  const themes = generateThemes(r, themeCount(total));
  const units = generateAssessmentUnits(r, functions, cities);

  const context = await writeContext(outDir, date, {
    functions: functionRecords(functionTree),
    locations: locationRecords(locationTree()),
    consolidated: consolidatedRecords(consolidatedTree()),
    riskThemes: themes.records,
    assessmentUnits: units,
  });

  const makeControl = controlFactory(r, {
    units,
    functionIds: functions.map((f) => f.id),
    functionNames: new Map(functions.map((f) => [f.id, f.name])),
    locationIds: locations.map((l) => l.node.id),
    themes: themes.usable,
    today: epochDay(date),
    total,
  });
  const controlsFile = await writeAtomically(outDir, 'controls.csv', async (out) => {
    await out.write(CONTROLS_HEADER, 0);
    for (let i = 1; i <= total; i++) {
      await out.write(controlLine(makeControl(i)));
      if (i % 10_000 === 0) options.onProgress?.(i);
    }
  });
  return summarizeFiles('generate', outDir, date, seed, total, [...context, controlsFile], startedAt);
}
