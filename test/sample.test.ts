/**
 * `nfr sample nist` and `nfr sample generate`: the files are read back with csv-parse and
 * JSON.parse and every cross-reference is checked; output is deterministic; bad arguments get
 * the documented exit codes; the NIST sample ingests into a real cluster.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse';
import { CONTROL_COLUMNS, CONTROL_STATUSES, CONTROL_TYPES, EXECUTIONS, FREQUENCIES, csvLine } from '../src/sample/controls-csv.js';
import { generateSample } from '../src/sample/generate.js';
import { writeNistSample } from '../src/sample/nist.js';
import type { SampleSummary } from '../src/sample/options.js';
import { REPO_ROOT, nfr, nfrJson, spawnNfr, testEnv, waitForExit } from './support/cli.js';
import { waitFor } from './support/wait.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'nfr-sample-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});
const dir = (name: string) => path.join(root, name);

type Json = Record<string, unknown>;

async function readJsonl(file: string): Promise<Json[]> {
  const out: Json[] = [];
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) out.push(JSON.parse(line) as Json);
  return out;
}

/** Streams the controls CSV through csv-parse, calling fn per row (header checked first). */
async function eachControl(file: string, fn: (row: Record<string, string>) => void): Promise<number> {
  let n = 0;
  const parser = createReadStream(file).pipe(parse({ columns: (header: string[]) => (assert.deepEqual(header, [...CONTROL_COLUMNS]), header) }));
  for await (const row of parser as AsyncIterable<Record<string, string>>) {
    fn(row);
    n++;
  }
  return n;
}

interface Context {
  functions: Json[];
  locations: Json[];
  consolidated: Json[];
  themes: Json[];
  units: Json[];
}

async function readContext(out: string, date = '2026-01-01'): Promise<Context> {
  const c = path.join(out, 'context');
  return {
    functions: await readJsonl(path.join(c, 'organization', date, 'functions.jsonl')),
    locations: await readJsonl(path.join(c, 'organization', date, 'locations.jsonl')),
    consolidated: await readJsonl(path.join(c, 'organization', date, 'consolidated.jsonl')),
    themes: await readJsonl(path.join(c, 'risk_theme', date, 'risk_theme.jsonl')),
    units: await readJsonl(path.join(c, 'assessment_unit', date, 'assessment_units.jsonl')),
  };
}

/** Checks a tree file (children exist, one root, no node twice a child) and returns its depth. */
function treeDepth(nodes: Json[], key: string): number {
  const ids = new Set(nodes.map((n) => n[key] as string));
  assert.equal(ids.size, nodes.length, `duplicate ${key}`);
  const parentOf = new Map<string, string>();
  for (const n of nodes) {
    for (const child of n.out_id as string[]) {
      assert.ok(ids.has(child), `${n[key]} has unknown child ${child}`);
      assert.ok(!parentOf.has(child), `${child} has two parents`);
      parentOf.set(child, n[key] as string);
    }
  }
  const roots = [...ids].filter((id) => !parentOf.has(id));
  assert.equal(roots.length, 1, `one root expected, found ${roots.join(', ')}`);
  let max = 0;
  for (const id of ids) {
    let d = 0;
    for (let p = parentOf.get(id); p !== undefined; p = parentOf.get(p)) assert.ok(++d < 50, 'cycle');
    max = Math.max(max, d);
  }
  return max;
}

/** Every reference of the context and the controls resolves; returns facts for further checks. */
async function checkSample(out: string, summary: SampleSummary) {
  const ctx = await readContext(out, summary.date);
  const functionIds = new Set(ctx.functions.map((f) => f.id as string));
  const locationIds = new Set(ctx.locations.map((l) => l.id as string));
  const themeIds = new Set(ctx.themes.map((t) => t.risk_theme_id as string));
  const activeThemes = new Set(ctx.themes.filter((t) => t.status === 'Active').map((t) => t.risk_theme_id as string));
  const depth = { functions: treeDepth(ctx.functions, 'id'), locations: treeDepth(ctx.locations, 'id'), consolidated: treeDepth(ctx.consolidated, 'location_id') };
  // location_name is the path of names from the root, so its length is the node's depth + 1.
  for (const l of [...ctx.locations, ...ctx.consolidated]) assert.ok(Array.isArray(l.location_name) && (l.location_name as unknown[]).length >= 1 && (l.location_name as unknown[]).every((n) => typeof n === 'string' && n !== ''));
  for (const t of ctx.themes) {
    assert.ok(t.status === 'Active' || t.status === 'Expired');
    assert.ok(t.parent_id === null || themeIds.has(t.parent_id as string), `theme ${t.risk_theme_id} has unknown parent ${t.parent_id}`);
    for (const f of ['taxonomy_id', 'taxonomy', 'risk_theme', 'risk_theme_description', 'risk_theme_mapping_considerations']) assert.ok(typeof t[f] === 'string' && (t[f] as string).length > 0, `${t.risk_theme_id} ${f}`);
  }
  const unitPairs = new Set<string>();
  for (const u of ctx.units) {
    assert.ok(functionIds.has(u.function_id as string) && locationIds.has(u.location_id as string), `unit ${u.id}`);
    unitPairs.add(`${u.function_id}|${u.location_id}`);
  }
  assert.equal(new Set(ctx.units.map((u) => u.id)).size, ctx.units.length, 'unit ids unique');

  const controlIds = new Set<string>();
  const parents: string[] = [];
  const usedThemes = new Set<string>();
  let withParent = 0;
  let quoted = 0;
  const rows = await eachControl(path.join(out, 'controls.csv'), (r) => {
    assert.match(r.control_id!, /^[A-Za-z0-9][A-Za-z0-9._()/-]*$/);
    assert.ok(r.control_id!.length <= 64);
    assert.ok(!controlIds.has(r.control_id!), `duplicate ${r.control_id}`);
    controlIds.add(r.control_id!);
    assert.ok(r.title!.length > 0 && r.title!.length <= 500);
    assert.ok((CONTROL_TYPES as readonly string[]).includes(r.control_type!), r.control_type);
    assert.ok((EXECUTIONS as readonly string[]).includes(r.execution!), r.execution);
    assert.ok((FREQUENCIES as readonly string[]).includes(r.frequency!), r.frequency);
    assert.ok((CONTROL_STATUSES as readonly string[]).includes(r.status!), r.status);
    for (const b of [r.key_control, r.sox_relevant, r.gdpr_relevant]) assert.ok(b === 'true' || b === 'false');
    for (const d of [r.effective_date!, r.review_date!]) assert.equal(new Date(`${d}T00:00:00Z`).toISOString().slice(0, 10), d);
    assert.ok(r.review_date! > r.effective_date!);
    if (r.parent_control_id) {
      parents.push(r.parent_control_id);
      withParent++;
    }
    assert.ok(unitPairs.has(`${r.owning_function_id}|${r.owning_location_id}`), `${r.control_id}: owner is not an assessment unit`);
    for (const f of r.related_function_ids ? r.related_function_ids.split(';') : []) assert.ok(functionIds.has(f), `${r.control_id}: function ${f}`);
    for (const l of r.related_location_ids ? r.related_location_ids.split(';') : []) assert.ok(locationIds.has(l), `${r.control_id}: location ${l}`);
    for (const t of r.risk_theme_ids ? r.risk_theme_ids.split(';') : []) {
      assert.ok(activeThemes.has(t), `${r.control_id}: theme ${t} unknown or expired`);
      usedThemes.add(t);
    }
    if (/[",\n]/.test(r.description!)) quoted++;
  });
  assert.equal(rows, summary.controls);
  for (const p of parents) assert.ok(controlIds.has(p), `unknown parent ${p}`);
  // The summary tells the truth about what is on disk.
  for (const f of summary.files) assert.equal((await stat(path.join(out, f.path))).size, f.bytes, f.path);
  assert.equal(summary.files.find((f) => f.path === 'controls.csv')?.rows, rows);
  return { ctx, depth, rows, withParent, quoted, usedThemes, controlIds };
}

describe('nfr sample nist', () => {
  it('writes the 370 HIGH-baseline controls with NIST ids, 18 family themes under 3 parents, every reference resolving', async () => {
    const out = dir('nist');
    // --json before the command means the same as after it.
    const raw = await nfr(['--json', 'sample', 'nist', '--out', out], testEnv({}));
    assert.equal(raw.code, 0, raw.stderr);
    const summary = JSON.parse(raw.stdout) as SampleSummary;
    assert.equal(summary.controls, 370);
    const s = await checkSample(out, summary);
    assert.equal(s.rows, 370);
    for (const id of ['AC-1', 'AC-2', 'AC-2.1', 'IA-2.1', 'SR-11.2']) assert.ok(s.controlIds.has(id), id);
    assert.equal(s.withParent, 182);
    const families = s.ctx.themes.filter((t) => t.parent_id !== null);
    const classes = s.ctx.themes.filter((t) => t.parent_id === null);
    assert.equal(families.length, 18);
    assert.deepEqual(classes.map((t) => t.risk_theme_id).sort(), ['RT-MGMT', 'RT-OPER', 'RT-TECH']);
    assert.equal(s.usedThemes.size, 18, 'every family theme is used');
    assert.ok(s.ctx.themes.every((t) => t.status === 'Active'));
    assert.ok(s.depth.functions >= 3 && s.depth.locations === 3 && s.depth.consolidated === 3, JSON.stringify(s.depth));
    assert.ok(s.quoted > 100, 'descriptions with commas are quoted');

    // Plausible owners: a person would put these families with these functions.
    const owner = new Map<string, string>();
    await eachControl(path.join(out, 'controls.csv'), (row) => owner.set(row.control_id!, `${row.owning_function_id} ${row.family_id} ${row.risk_theme_ids} ${row.regulatory_references}`));
    assert.match(owner.get('IA-2')!, /^FN-(IAM|IAM-PAM|SAE-CRY) IA RT-IA NIST SP 800-53 rev5 IA-2/);
    assert.match(owner.get('AC-2.1')!, /^FN-(IAM|IAM-PAM|SAE) AC RT-AC NIST SP 800-53 rev5 AC-2\(1\)/);
    assert.match(owner.get('PS-3')!, /^FN-HR/);
    assert.match(owner.get('PE-3')!, /^FN-(PHYS|FAC|INFRA-DC) /);
  });

  it('keeps the catalog text intact through CSV quoting (commas, quotes, newlines)', async () => {
    const out = dir('nist-text');
    await writeNistSample({ outDir: out });
    const source = new Map<string, Record<string, string>>();
    for await (const row of createReadStream(path.join(REPO_ROOT, 'samples', 'nist-800-53r5-high.csv')).pipe(parse({ columns: true })) as AsyncIterable<Record<string, string>>) source.set(row.control_id!, row);
    assert.equal(source.size, 370);
    await eachControl(path.join(out, 'controls.csv'), (row) => {
      const src = source.get(row.control_id!);
      assert.ok(src, row.control_id);
      assert.equal(row.title, src.control_title);
      assert.equal(row.description, src.control_description);
      assert.equal(row.parent_control_id, src.parent_control_id);
    });
    // The encoder round-trips the awkward cases too.
    const awkward = ['a,b', 'say "hi"', 'line\nbreak', 'cr\r\nlf', '"', '', 'plain'];
    const line = csvLine(awkward);
    const back: string[][] = [];
    for await (const rec of parse(line) as AsyncIterable<string[]>) back.push(rec);
    assert.deepEqual(back, [awkward]);
  });

  it('is byte-for-byte deterministic, honours --date, and writes no temporary files', async () => {
    const a = dir('nist-a');
    const b = dir('nist-b');
    await writeNistSample({ outDir: a });
    await writeNistSample({ outDir: b });
    for (const f of ['controls.csv', 'context/organization/2026-01-01/functions.jsonl', 'context/risk_theme/2026-01-01/risk_theme.jsonl', 'context/assessment_unit/2026-01-01/assessment_units.jsonl']) {
      assert.ok((await readFile(path.join(a, f))).equals(await readFile(path.join(b, f))), f);
    }
    const c = dir('nist-c');
    const summary = await writeNistSample({ outDir: c, date: '2025-06-30' });
    assert.deepEqual(await readdir(path.join(c, 'context', 'organization')), ['2025-06-30']);
    await checkSample(c, summary);
    const all = await readdir(c, { recursive: true });
    assert.deepEqual(all.filter((f) => f.endsWith('.tmp')), []);
  });

  it('rejects a catalog with a bad row, naming the file, line and field, and leaves no controls.csv', async () => {
    const bad = path.join(root, 'bad-catalog.csv');
    await writeFile(bad, 'control_id,parent_control_id,control_title,control_description,family_id,family\nAC-1,,Policy,"text, with comma",AC,Access Control\nAC 2,,Account Management,text,AC,Access Control\n');
    const out = dir('nist-bad');
    await assert.rejects(writeNistSample({ outDir: out, source: bad }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'INVALID_INPUT');
      assert.match(err.message, /bad-catalog\.csv line 3: field control_id/);
      return true;
    });
    assert.deepEqual((await readdir(out, { recursive: true })).filter((f) => f.includes('controls.csv')), []);
  });
});

describe('nfr sample generate', () => {
  it('writes N controls with valid enums, dates and references, deep trees and themes with parents', async () => {
    const out = dir('gen-5000');
    const r = await nfrJson(['sample', 'generate', '--out', out, '--controls', '5000', '--seed', '7'], testEnv({}));
    assert.equal(r.code, 0, r.stderr);
    const summary = r.body as SampleSummary;
    assert.equal(summary.seed, 7);
    const s = await checkSample(out, summary);
    assert.equal(s.rows, 5000);
    assert.ok(s.depth.functions >= 4, `function tree depth ${s.depth.functions}`);
    assert.equal(s.depth.locations, 3);
    assert.ok(s.ctx.functions.length >= 20);
    const themeDepth = (id: string): number => {
      const t = s.ctx.themes.find((x) => x.risk_theme_id === id);
      return t?.parent_id ? 1 + themeDepth(t.parent_id as string) : 0;
    };
    const depths = s.ctx.themes.map((t) => themeDepth(t.risk_theme_id as string));
    assert.equal(Math.max(...depths), 2, 'three levels of themes');
    assert.ok(s.ctx.themes.length >= 50 && s.ctx.themes.length <= 200, `${s.ctx.themes.length} themes`);
    assert.ok(s.ctx.themes.some((t) => t.status === 'Expired'), 'some themes are expired (and unused)');
    // About 10% with a parent; many descriptions need quoting; lengths vary from ~100 B to ~2 KB.
    assert.ok(s.withParent > 350 && s.withParent < 650, `${s.withParent} with a parent`);
    assert.ok(s.quoted > 2500, `${s.quoted} quoted descriptions`);
    const lengths: number[] = [];
    let newlines = 0;
    await eachControl(path.join(out, 'controls.csv'), (row) => {
      lengths.push(Buffer.byteLength(row.description!));
      if (row.description!.includes('\n')) newlines++;
    });
    lengths.sort((x, y) => x - y);
    assert.ok(lengths[0]! >= 100 && lengths[lengths.length - 1]! <= 2600 && lengths[lengths.length - 1]! > 1800, `${lengths[0]}..${lengths[lengths.length - 1]}`);
    assert.ok(newlines > 500, `${newlines} descriptions with line breaks`);
  });

  it('is deterministic for a seed and differs for another seed', async () => {
    const [a, b, c] = [dir('gen-a'), dir('gen-b'), dir('gen-c')];
    await generateSample({ outDir: a, controls: 2000, seed: 42 });
    await generateSample({ outDir: b, controls: 2000, seed: 42 });
    await generateSample({ outDir: c, controls: 2000, seed: 43 });
    for (const f of ['controls.csv', 'context/organization/2026-01-01/functions.jsonl', 'context/risk_theme/2026-01-01/risk_theme.jsonl', 'context/assessment_unit/2026-01-01/assessment_units.jsonl']) {
      assert.ok((await readFile(path.join(a, f))).equals(await readFile(path.join(b, f))), `${f} same for the same seed`);
    }
    assert.ok(!(await readFile(path.join(a, 'controls.csv'))).equals(await readFile(path.join(c, 'controls.csv'))), 'another seed, other controls');
  });

  it('streams 200,000 controls with flat memory', async () => {
    const out = dir('gen-big');
    let peak = 0;
    // How fast is bench's to say (timings in a test fail on a loaded machine, not on a slow change).
    const summary = await generateSample({ outDir: out, controls: 200_000, onProgress: () => (peak = Math.max(peak, process.memoryUsage().rss)) });
    const csv = summary.files.find((f) => f.path === 'controls.csv')!;
    assert.equal(csv.rows, 200_000);
    assert.ok(csv.bytes > 100 * 1024 * 1024, `${csv.bytes} bytes`);
    // The file is far larger than the memory the process grew to: rows were not held.
    assert.ok(peak < 200 * 1024 * 1024, `peak RSS ${Math.round(peak / 1048576)} MiB`);
    const tail = (await readFile(path.join(out, 'controls.csv'))).subarray(-2000).toString();
    assert.ok(tail.includes('CTL-0200000,'), 'the last control is there');
    await rm(out, { recursive: true, force: true });
  });
});

describe('a killed run', () => {
  it('never leaves a partial controls.csv under its final name, and the next run cleans up after it', async () => {
    const out = dir('killed');
    const child = spawnNfr(['sample', 'generate', '--out', out, '--controls', '5000000'], testEnv({}));
    const tmp = path.join(out, `.controls.csv.${child.pid}.tmp`);
    // Wait until the controls are being written, then kill without warning.
    await waitFor(async () => (await stat(tmp).then((st) => st.size, () => 0)) > 4 * 1024 * 1024, { timeoutMs: 30_000, what: 'the temporary controls file to pass 4 MiB' });
    child.kill('SIGKILL');
    await waitForExit(child);
    assert.deepEqual((await readdir(out)).sort(), [`.controls.csv.${child.pid}.tmp`, 'context']);
    await generateSample({ outDir: out, controls: 10 });
    assert.deepEqual((await readdir(out)).sort(), ['context', 'controls.csv']);
    let rows = 0;
    await eachControl(path.join(out, 'controls.csv'), () => rows++);
    assert.equal(rows, 10);
  });
});

describe('bad arguments', { concurrency: true }, () => {
  const env = testEnv({});
  const cases: [string[], number, RegExp][] = [
    [['sample', 'generate', '--out', 'x', '--controls', '0'], 2, /--controls 0/],
    [['sample', 'generate', '--out', 'x', '--controls', '-5'], 2, /controls/],
    [['sample', 'generate', '--out', 'x', '--controls', 'abc'], 2, /--controls abc/],
    [['sample', 'generate', '--out', 'x', '--controls', '10', '--seed', '1.5'], 2, /--seed 1\.5/],
    [['sample', 'generate', '--controls', '10'], 2, /--out/],
    [['sample', 'nist'], 2, /--out/],
    [['sample', 'generate', '--out', 'x', '--controls', '200000000'], 12, /100000000/],
    [['sample', 'nist', '--out', 'x', '--date', '2026-13-01'], 12, /2026-13-01/],
    [['sample', 'generate', '--out', 'x', '--controls', '10', '--date', '2026-02-30'], 12, /2026-02-30/],
  ];
  for (const [args, code, message] of cases) {
    it(`nfr ${args.join(' ')} → exit ${code}`, async () => {
      const r = await nfr(args, env, root);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, message);
      // Nothing was written for a refused command.
      assert.deepEqual((await readdir(root)).filter((f) => f === 'x'), []);
    });
  }
});

describe('the NIST sample ingests', () => {
  const cluster = fileCluster();

  it('loads through nfr ingest context and nfr ingest controls: 370 current controls, every link resolved', async () => {
    const { env, ...db } = await freshDatabase(cluster, 'sample', { ingested: true });
    const out = cluster.tempDir('nist');
    assert.equal((await nfr(['db', 'migrate'], env)).code, 0);
    const sample = await nfrJson(['sample', 'nist', '--out', out], env);
    assert.equal(sample.code, 0, sample.stderr);
    const rowsOf = (suffix: string) => (sample.body as SampleSummary).files.find((f) => f.path.endsWith(suffix))!.rows;

    const context = await nfrJson(['ingest', 'context', '--path', path.join(out, 'context')], env);
    assert.equal(context.code, 0, context.stderr);
    const controls = await nfrJson(['ingest', 'controls', path.join(out, 'controls.csv')], env);
    assert.equal(controls.code, 0, controls.stderr);

    const counts = await cluster.connect(db.name, async (c) => {
      const q = async (sql: string) => Number((await c.query<{ n: string }>(sql)).rows[0]?.n);
      return {
        functions: await q('select count(*) as n from src_orgs_ver_function where tx_to is null'),
        edges: await q('select count(*) as n from src_orgs_rel_function_child where tx_to is null'),
        locations: await q('select count(*) as n from src_orgs_ver_location where tx_to is null'),
        themes: await q('select count(*) as n from src_risks_ver_theme where tx_to is null'),
        themesWithParent: await q('select count(*) as n from src_risks_ver_theme where tx_to is null and parent_theme_id is not null'),
        units: await q('select count(*) as n from src_au_ver_unit where tx_to is null'),
        controls: await q('select count(*) as n from src_controls_ver_control where tx_to is null'),
        refs: await q('select count(*) as n from src_controls_ref_control'),
        withParent: await q('select count(*) as n from src_controls_ver_control where tx_to is null and parent_control_id is not null'),
        owned: await q('select count(*) as n from src_controls_ver_control where tx_to is null and owning_function_id is not null and owning_location_id is not null'),
        themeLinks: await q('select count(*) as n from src_controls_rel_risk_theme where tx_to is null'),
        ia2: await q("select count(*) as n from src_controls_ver_control v join src_orgs_ver_function f on f.function_id = v.owning_function_id and f.tx_to is null where v.tx_to is null and v.control_id = 'IA-2' and f.name = 'Identity and Access Management'"),
      };
    });
    assert.deepEqual(counts, {
      functions: 39,
      edges: 38,
      locations: 71,
      themes: 21,
      themesWithParent: 18,
      units: rowsOf('assessment_units.jsonl'),
      controls: 370,
      refs: 370,
      withParent: 182,
      owned: 370,
      themeLinks: 370,
      ia2: 1,
    });

    // The same folder and file again write nothing.
    const again = await nfrJson(['ingest', 'context', '--path', path.join(out, 'context')], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.body.totals.inserted + again.body.totals.updated + again.body.totals.closed, 0, 'the same folder writes nothing');
    const controlsAgain = await nfrJson(['ingest', 'controls', path.join(out, 'controls.csv')], env);
    assert.equal(controlsAgain.code, 0, controlsAgain.stderr);
    const current = await cluster.connect(db.name, async (c) => Number((await c.query<{ n: string }>('select count(*) as n from src_controls_ver_control')).rows[0]?.n));
    assert.equal(current, 370, 'no new versions for an unchanged file');
  });
});
