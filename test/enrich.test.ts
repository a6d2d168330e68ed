/**
 * Enrichment: the local embedder (determinism, NIST search quality), the OpenAI-compatible
 * client against a real HTTP server (batching, retries, refusals, unreachable port), and model
 * runs against a real cluster (rows per table, full-text search, theme mapping, JSONL records,
 * recomputation only of changed texts).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import pg from 'pg';
import { resolveConfig, type Config } from '../src/config.js';
import { createEmbedder, embedderDimension } from '../src/enrich/create-embedder.js';
import { GLOVE_MODEL } from '../src/enrich/glove-embedder.js';
import { embedLocal, LocalEmbedder, LOCAL_DIMENSION, LOCAL_MODEL } from '../src/enrich/local-embedder.js';
import { keywords, normaliseText, summarise, SUMMARY_MAX_CHARS } from '../src/enrich/models.js';
import { embeddingsEndpoint, RemoteEmbedder } from '../src/enrich/remote-embedder.js';
import { runEnrichment, runEnrichmentLocked, type EnrichmentResult } from '../src/enrich/run.js';
import { controlText } from '../src/ingest/text.js';
import { tokens } from '../src/enrich/tokens.js';
import { NfrError } from '../src/errors.js';
import { migrateToHead } from '../src/postgres/migrate.js';
import { targetFromUrl } from '../src/postgres/connection.js';
import { withOperation } from '../src/runtime/operation.js';
import { openContext } from '../src/pipeline/context.js';
import { fileCluster } from './support/cluster.js';
import { query } from './support/data.js';
import { changeControlText, readNistControls, seedControls, seedFamilyThemes, seedUploads, startEmbeddingsServer, UPLOAD_1, UPLOAD_2, UPLOAD_3, type NistControl } from './support/enrich-fixtures.js';

function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

describe('local embedder', () => {
  it('is deterministic, unit length and pinned to the same bytes on every machine', async () => {
    const text = 'Multi-factor Authentication to Privileged Accounts\nImplement multi-factor authentication for access to privileged accounts.';
    const a = embedLocal(text);
    const b = (await new LocalEmbedder().embed([text]))[0] as Float32Array;
    assert.equal(a.length, LOCAL_DIMENSION);
    assert.deepEqual(Array.from(a), Array.from(b));
    assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-6);
    // A golden hash of the vector bytes: any change to tokenising, hashing or weighting changes
    // vectors already stored and indexed, so it must come with a new model name.
    const digest = createHash('sha256').update(Buffer.from(a.buffer)).digest('hex');
    assert.equal(digest, '0c2144d374e00571fb6798b1d86d03b4dd29aa563da3be13a7403a9e1b243e59');
    assert.equal(Array.from(embedLocal('')).every((x) => x === 0), true);
  });

  it('normalises tokens: hyphen compounds, stop words, stems, abbreviations', () => {
    assert.deepEqual(tokens('Multi-factor authentication'), ['multi', 'factor', 'multifactor', 'authentic']);
    assert.deepEqual(tokens('MFA authenticators authenticated'), ['multifactor', 'authentic', 'authentic', 'authentic']);
    assert.deepEqual(tokens('the [organization-defined value] of the system'), []);
    assert.deepEqual(tokens('Backups, backup; Logging logs'), ['backup', 'backup', 'log', 'log']);
    assert.deepEqual(tokens('Crème BRÛLÉE'), ['crem', 'brule']);
  });

  it('summarises, picks keywords and normalises text deterministically', () => {
    assert.equal(
      summarise('Cryptographic Protection', 'Determine the [organization-defined value] ; and Implement the following types of cryptography required for each specified cryptographic use: [organization-defined value].'),
      'Cryptographic Protection: Implement the following types of cryptography required for each specified cryptographic use',
    );
    assert.equal(summarise('Title only', null), 'Title only');
    const long = summarise('T', 'word '.repeat(100));
    assert.ok(Array.from(long).length <= SUMMARY_MAX_CHARS && long.endsWith('word…'), long);
    assert.deepEqual(keywords('Multi-factor Authentication to Privileged Accounts', 'Implement multi-factor authentication for access to privileged accounts.'), [
      'multi-factor',
      'authentication',
      'privileged',
      'accounts',
      'access',
    ]);
    assert.deepEqual(keywords('Audit Record Retention', 'Retain audit records for [organization-defined value] to meet retention requirements.').slice(0, 3), ['audit', 'record', 'retention']);
    assert.equal(normaliseText('Multi-factor  Authentication', 'Implement MFA (e.g., TOTP) for "admins" — it\'s required; Café.'), "multi-factor authentication\nimplement mfa e g totp for admins it's required café");
  });

  it('finds the control a person would name among the 370 NIST controls (brute-force cosine)', async () => {
    const controls = await readNistControls();
    assert.equal(controls.length, 370);
    const vectors = controls.map((c) => ({ id: c.control_id, v: embedLocal(controlText(c.control_title, c.control_description)) }));
    const top = (q: string, n = 5) => {
      const qv = embedLocal(q);
      return vectors.map((x) => ({ id: x.id, s: cosine(qv, x.v) })).sort((a, b) => b.s - a.s).slice(0, n).map((x) => x.id);
    };
    const cases: [query: string, expected: RegExp][] = [
      ['multi-factor authentication for privileged accounts', /^IA-2(\.\d+)?$/],
      ['MFA for admins', /^IA-2\.1$/],
      ['audit log retention', /^AU-11$/],
      ['incident response training', /^IR-2(\.\d+)?$/],
      ['backup of system information', /^CP-9$/],
      ['separation of duties', /^AC-5$/],
      ['contingency plan testing', /^CP-4$/],
      ['screening of personnel before access', /^PS-3$/],
      ['visitor access to the data center', /^PE-8$/],
      ['remote access', /^AC-17$/],
      ['wireless access', /^AC-18$/],
      ['change control for configuration', /^CM-3$/],
      ['secure baseline configuration', /^CM-2$/],
      ['malware protection', /^SI-3$/],
    ];
    const misses = cases.filter(([q, re]) => !top(q).some((id) => re.test(id))).map(([q]) => `${q} → ${top(q).join(', ')}`);
    assert.deepEqual(misses, []);
    assert.equal(top('multi-factor authentication for privileged accounts', 1)[0], 'IA-2.1');
  });
});

describe('remote embedder', () => {
  it('reaches /v1/embeddings whether EMBEDDINGS_URL names the server, its /v1 base or the endpoint', async () => {
    const server = await startEmbeddingsServer(8);
    try {
      const root = server.url.replace(/\/v1$/, '');
      for (const url of [root, `${root}/`, server.url, `${server.url}/embeddings`, `${server.url}/embeddings/`]) {
        const e = new RemoteEmbedder({ url, model: 'm', apiKey: undefined });
        assert.equal((await e.embed(['one']))[0]?.length, 8, url);
      }
      assert.deepEqual(new Set(server.requests.map((r) => r.path)), new Set(['/v1/embeddings']));
    } finally {
      await server.close();
    }
    assert.equal(embeddingsEndpoint('https://user:pw@api.example.com/openai/v2').url, 'https://user:pw@api.example.com/openai/v2/embeddings');
    assert.equal(embeddingsEndpoint('https://user:pw@api.example.com/openai/v2').display, 'https://api.example.com/openai/v2/embeddings');
  });

  it('batches, keeps input order, sends the model and key, and tolerates a trailing slash', async () => {
    const server = await startEmbeddingsServer(8);
    try {
      const probed = new RemoteEmbedder({ url: server.url, model: 'test-model', apiKey: undefined });
      assert.equal(await embedderDimension(probed), 8);
      server.requests.length = 0;
      const e = new RemoteEmbedder({ url: `${server.url}/`, model: 'test-model', apiKey: 'sekret', batchSize: 64 });
      assert.equal(e.dimension, 0);
      const texts = Array.from({ length: 150 }, (_, i) => `text number ${i}`);
      const vectors = await e.embed(texts);
      assert.equal(vectors.length, 150);
      assert.equal(e.dimension, 8);
      assert.deepEqual(server.requests.map((r) => r.inputs), [64, 64, 22]);
      assert.ok(server.requests.every((r) => r.path === '/v1/embeddings' && r.authorization === 'Bearer sekret' && r.model === 'test-model'));
      // The server answers in reverse order with indexes; the client must put them back.
      const alone = await e.embed([texts[100] as string]);
      assert.deepEqual(Array.from(vectors[100] as Float32Array), Array.from(alone[0] as Float32Array));
      assert.ok(Math.abs(Math.hypot(...(vectors[0] as Float32Array)) - 1) < 1e-6, 'normalised to unit length');
      // createEmbedder picks this client when EMBEDDINGS_URL is set, and the local one otherwise.
      const remote = createEmbedder(resolveConfig({ env: { EMBEDDINGS_URL: server.url, EMBEDDINGS_MODEL: 'm' }, cwd: '/tmp' }));
      assert.ok(remote instanceof RemoteEmbedder && remote.model === 'm');
      assert.equal(createEmbedder(resolveConfig({ env: {}, cwd: '/tmp' })).model, GLOVE_MODEL, 'GloVe is the default');
      assert.equal(createEmbedder(resolveConfig({ env: { NFR_EMBEDDER: 'hash' }, cwd: '/tmp' })).model, LOCAL_MODEL);
    } finally {
      await server.close();
    }
  });

  it('retries 503 and 429 (honouring Retry-After) and then succeeds', async () => {
    const server = await startEmbeddingsServer(4, ({ index }) =>
      index < 2 ? { status: 503, body: { error: 'warming up' } } : index === 2 ? { status: 429, body: 'slow down', headers: { 'retry-after': '1' } } : undefined,
    );
    try {
      const e = new RemoteEmbedder({ url: server.url, model: 'm', apiKey: undefined, baseDelayMs: 20 });
      const started = Date.now();
      const vectors = await e.embed(['a', 'b']);
      assert.equal(vectors.length, 2);
      assert.equal(server.requests.length, 4);
      assert.equal(server.requests[0]?.authorization, undefined);
      assert.ok(Date.now() - started >= 950, 'waited for Retry-After');
    } finally {
      await server.close();
    }
  });

  it('fails clearly and in bounded time when nothing listens, naming the URL and not the key', async () => {
    const port = await freePort();
    const e = new RemoteEmbedder({ url: `http://127.0.0.1:${port}/v1`, model: 'm', apiKey: 'sekret-key', baseDelayMs: 20, maxAttempts: 3 });
    const started = Date.now();
    await assert.rejects(e.embed(['x']), (err: unknown) => {
      assert.ok(err instanceof NfrError);
      assert.equal(err.code, 'TOOL_FAILED');
      assert.match(err.message, new RegExp(`http://127\\.0\\.0\\.1:${port}/v1/embeddings`));
      assert.match(err.message, /after 3 attempts.*ECONNREFUSED/);
      assert.doesNotMatch(err.message, /sekret/);
      return true;
    });
    assert.ok(Date.now() - started < 5000);
  });

  it('refuses malformed answers: wrong count, non-numbers, changed dimension; 401 without retry', async () => {
    let mode = 'count';
    const server = await startEmbeddingsServer(4, ({ inputs }) => {
      if (mode === 'count') return { status: 200, body: { data: [{ index: 0, embedding: [1, 2, 3, 4] }] } };
      if (mode === 'nan') return { status: 200, body: { data: inputs.map((_, i) => ({ index: i, embedding: [1, 'x', 3, 4] })) } };
      if (mode === 'dim') return { status: 200, body: { data: inputs.map((_, i) => ({ index: i, embedding: [1, 2, 3] })) } };
      if (mode === 'auth') return { status: 401, body: { error: 'bad key' } };
      return undefined;
    });
    try {
      const e = new RemoteEmbedder({ url: server.url, model: 'm', apiKey: 'k', baseDelayMs: 10 });
      await assert.rejects(e.embed(['a', 'b']), /malformed response: 1 embeddings for 2 inputs/);
      mode = 'nan';
      await assert.rejects(e.embed(['a']), /malformed response: data\.0\.embedding\.1/);
      mode = 'ok';
      assert.equal((await e.embed(['a']))[0]?.length, 4);
      mode = 'dim';
      await assert.rejects(e.embed(['a']), /dimension 3, expected 4/);
      mode = 'auth';
      const before = server.requests.length;
      await assert.rejects(e.embed(['a']), (err: unknown) => err instanceof NfrError && err.code === 'TOOL_FAILED' && /HTTP 401.*EMBEDDINGS_API_KEY/.test(err.message));
      assert.equal(server.requests.length, before + 1, 'a 401 is not retried');
    } finally {
      await server.close();
    }
  });
});

describe('model runs', () => {
  let nist: NistControl[];
  const cluster = fileCluster(async () => {
    nist = await readNistControls();
  });

  async function setup(prefix: string, options: { themes: boolean; env?: Record<string, string> }): Promise<{ url: string; config: Config; data: string }> {
    const db = await cluster.createDatabase(prefix);
    await migrateToHead(targetFromUrl(db.url));
    await seedUploads(db.url, [UPLOAD_1, UPLOAD_2, UPLOAD_3]);
    if (options.themes) await seedFamilyThemes(db.url);
    await seedControls(db.url, nist);
    const data = cluster.tempDir(`${prefix}-data`);
    const config = resolveConfig({
      env: { DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir(`${prefix}-backups`), DATA_INGESTED_PATH: data, NFR_HOME: cluster.tempDir(`${prefix}-home`), NFR_EMBEDDER: 'hash', ...options.env },
      cwd: cluster.root,
    });
    return { url: db.url, config, data };
  }

  async function jsonLines(file: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for await (const line of createInterface({ input: createReadStream(file) })) out.push(JSON.parse(line) as Record<string, unknown>);
    return out;
  }

  const counts = async (url: string) =>
    (
      await query<Record<string, number>>(
        url,
        `select (select count(*)::int from ai_controls_embedding) as embedding,
                (select count(*)::int from ai_controls_enrichment) as enrichment,
                (select count(*)::int from ai_controls_feature_prep) as feature_prep,
                (select count(distinct (control_id, text_hash))::int from ai_controls_taxonomy_mapping) as mapped`,
      )
    )[0];

  it('computes every output once per control text, records JSONL, and recomputes only changed texts', async () => {
    const { url, config, data } = await setup('run', { themes: true });
    const ctx = await openContext(config);
    const progress: number[] = [];
    const first = await runEnrichment(ctx, { uploadId: UPLOAD_1, batchSize: 100, onProgress: (p) => progress.push(p.controls_done) });
    assert.equal(first.controls_current, 370);
    assert.equal(first.controls_computed, 370);
    assert.deepEqual(progress, [100, 200, 300, 370]);
    assert.equal(first.rows.embedding, 370);
    assert.equal(first.rows.enrichment, 370);
    assert.equal(first.rows.feature_prep, 370);
    assert.ok(first.rows.taxonomy_mapping >= 370 && first.rows.taxonomy_mapping <= 3 * 370);
    assert.deepEqual(first.skipped, []);
    assert.deepEqual(await counts(url), { embedding: 370, enrichment: 370, feature_prep: 370, mapped: 370 });

    // Rows are keyed by the current text hash and carry model and upload.
    const keyed = await query<{ n: number }>(
      url,
      `select count(*)::int as n from src_controls_ver_control c
         join ai_controls_embedding e using (control_id, text_hash)
         join ai_controls_enrichment x using (control_id, text_hash)
         join ai_controls_feature_prep f using (control_id, text_hash)
        where c.tx_to is null and e.model_name = $1 and e.dimension = 384 and cardinality(e.vector) = 384
          and e.upload_id = $2 and x.upload_id = $2 and f.upload_id = $2 and length(x.summary) <= $3 and cardinality(x.keywords) > 0`,
      [LOCAL_MODEL, UPLOAD_1, SUMMARY_MAX_CHARS],
    );
    assert.equal(keyed[0]?.n, 370);
    // The stored vector is exactly the local embedding of the control text.
    const ia21 = nist.find((c) => c.control_id === 'IA-2.1') as NistControl;
    const stored = await query<{ vector: number[] }>(url, `select vector from ai_controls_embedding where control_id = 'IA-2.1'`);
    // real[] comes back in its shortest decimal form; as float32 it is bit-identical.
    assert.deepEqual(stored[0]?.vector.map(Math.fround), Array.from(embedLocal(controlText(ia21.control_title, ia21.control_description))));

    // Full-text search over the prepared features finds controls by a word, title matches first.
    const fts = await query<{ control_id: string }>(
      url,
      `select control_id from ai_controls_feature_prep where search_vector @@ plainto_tsquery('english', 'cryptographic')
        order by ts_rank(search_vector, plainto_tsquery('english', 'cryptographic')) desc, control_id`,
    );
    assert.ok(fts.some((r) => r.control_id === 'SC-13'));
    assert.ok(fts.length >= 5);
    const backup = await query<{ control_id: string }>(url, `select control_id from ai_controls_feature_prep where search_vector @@ to_tsquery('english', 'backups & user-level')`);
    assert.ok(backup.some((r) => r.control_id === 'CP-9'));

    // Taxonomy mapping: obvious controls map to their family's theme at rank 1.
    const rank1 = new Map(
      (await query<{ control_id: string; risk_theme_id: string }>(url, `select control_id, risk_theme_id from ai_controls_taxonomy_mapping where rank = 1`)).map((r) => [r.control_id, r.risk_theme_id]),
    );
    for (const [control, theme] of [
      ['AC-2', 'THEME-AC'],
      ['AC-17', 'THEME-AC'],
      ['IA-2.1', 'THEME-IA'],
      ['AU-11', 'THEME-AU'],
      ['CP-9', 'THEME-CP'],
      ['IR-2', 'THEME-IR'],
      ['AT-2', 'THEME-AT'],
      ['PE-6', 'THEME-PE'],
      ['SR-6', 'THEME-SR'],
    ]) {
      assert.equal(rank1.get(control as string), theme, `${control} maps to ${theme}`);
    }
    const correct = nist.filter((c) => rank1.get(c.control_id) === `THEME-${c.family_id}`).length;
    assert.ok(correct >= 200, `family theme at rank 1 for ${correct}/370`);
    const ranks = await query<{ bad: number }>(
      url,
      `select count(*)::int as bad from (select control_id, array_agg(rank order by rank) r, array_agg(score order by rank) s
         from ai_controls_taxonomy_mapping group by control_id) x
        where r <> (select array_agg(g) from generate_series(1, cardinality(x.r)) g) or s[1] < s[cardinality(s)]`,
    );
    assert.equal(ranks[0]?.bad, 0, 'ranks are 1..n by descending score');

    // One JSONL file per model, one parsable line per control, owner-only, no temp files left.
    assert.deepEqual(Object.keys(first.files).sort(), ['embedding', 'enrichment', 'feature_prep', 'taxonomy_mapping']);
    for (const kind of ['embedding', 'enrichment', 'feature_prep', 'taxonomy_mapping']) {
      const file = path.join(data, 'model_runs', kind, `${UPLOAD_1}.jsonl`);
      assert.equal(first.files[kind as keyof EnrichmentResult['files']], file);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const lines = await jsonLines(file);
      assert.equal(lines.length, 370, kind);
      assert.equal(new Set(lines.map((l) => l.control_id)).size, 370);
      assert.ok(lines.every((l) => typeof l.text_hash === 'string' && typeof l.model_name === 'string'));
      assert.deepEqual(await readdir(path.dirname(file)), [`${UPLOAD_1}.jsonl`]);
    }
    const fp = await jsonLines(path.join(data, 'model_runs', 'feature_prep', `${UPLOAD_1}.jsonl`));
    assert.match(String(fp.find((l) => l.control_id === 'SC-13')?.search_vector), /'cryptograph':\d/);
    const tm = await jsonLines(path.join(data, 'model_runs', 'taxonomy_mapping', `${UPLOAD_1}.jsonl`));
    assert.equal((tm.find((l) => l.control_id === 'CP-9')?.themes as { risk_theme_id: string }[] | undefined)?.[0]?.risk_theme_id, 'THEME-CP');

    // Second run: nothing changed, nothing computed, nothing written, no file.
    const before = await query<{ h: string }>(url, `select md5(string_agg(e::text, '|' order by control_id)) as h from ai_controls_embedding e`);
    const second = await runEnrichment(ctx, { uploadId: UPLOAD_2 });
    assert.equal(second.controls_computed, 0);
    assert.deepEqual(second.rows, { taxonomy_mapping: 0, enrichment: 0, feature_prep: 0, embedding: 0 });
    assert.deepEqual(second.files, {});
    assert.deepEqual(await query(url, `select md5(string_agg(e::text, '|' order by control_id)) as h from ai_controls_embedding e`), before);

    // A changed text gets new outputs under its new hash; every other control is untouched.
    const newHash = await changeControlText(url, 'CP-9', 'Back up user-level and system-level information to an encrypted offsite vault every night.');
    const third = await runEnrichment(ctx, { uploadId: UPLOAD_3 });
    assert.equal(third.controls_computed, 1);
    assert.deepEqual(third.rows, { taxonomy_mapping: third.rows.taxonomy_mapping, enrichment: 1, feature_prep: 1, embedding: 1 });
    assert.ok(third.rows.taxonomy_mapping >= 1);
    const byUpload = await query<{ upload_id: string; n: number }>(url, `select upload_id, count(*)::int as n from ai_controls_embedding group by 1 order by 1`);
    assert.deepEqual(byUpload, [
      { upload_id: UPLOAD_1, n: 370 },
      { upload_id: UPLOAD_3, n: 1 },
    ]);
    const cp9 = await query<{ text_hash: string; upload_id: string }>(url, `select text_hash, upload_id from ai_controls_enrichment where control_id = 'CP-9' order by upload_id`);
    assert.equal(cp9.length, 2, 'the old text keeps its outputs (history)');
    assert.deepEqual(cp9[1], { text_hash: newHash, upload_id: UPLOAD_3 });
    const lines = await jsonLines(path.join(data, 'model_runs', 'embedding', `${UPLOAD_3}.jsonl`));
    assert.deepEqual(lines.map((l) => [l.control_id, l.text_hash]), [['CP-9', newHash]]);
    assert.equal((await jsonLines(path.join(data, 'model_runs', 'enrichment', `${UPLOAD_3}.jsonl`)))[0]?.summary, 'System Backup: Back up user-level and system-level information to an encrypted offsite vault every night');
  });

  it('skips taxonomy mapping without themes, and switching to a remote model replaces only the embeddings', async () => {
    const { url, config, data } = await setup('nothemes', { themes: false });
    const ctx = await openContext(config);
    const first = await runEnrichment(ctx, { uploadId: UPLOAD_1 });
    assert.equal(first.rows.taxonomy_mapping, 0);
    assert.equal(first.models.taxonomy_mapping, null);
    assert.match(first.skipped.join(), /no current active risk themes/);
    assert.equal(first.files.taxonomy_mapping, undefined);
    assert.deepEqual(await counts(url), { embedding: 370, enrichment: 370, feature_prep: 370, mapped: 0 });
    assert.equal((await runEnrichment(ctx, { uploadId: UPLOAD_2 })).controls_computed, 0, 'missing themes do not make every run recompute');

    const server = await startEmbeddingsServer(16);
    try {
      const remoteConfig = resolveConfig({ env: { DATABASE_URL: ctx.config.databaseUrl, POSTGRES_BACKUP_PATH: config.backupPath, DATA_INGESTED_PATH: data, EMBEDDINGS_URL: server.url, EMBEDDINGS_MODEL: 'fake-embed-16' }, cwd: cluster.root });
      const remote = await runEnrichment(await openContext(remoteConfig), { uploadId: UPLOAD_3 });
      assert.equal(remote.controls_computed, 370);
      assert.deepEqual(remote.rows, { taxonomy_mapping: 0, enrichment: 0, feature_prep: 0, embedding: 370 });
      assert.equal(remote.embedding_dimension, 16);
      assert.equal(server.requests.length, Math.ceil(370 / 64));
      const models = await query<{ model_name: string; dimension: number; n: number }>(url, `select model_name, dimension, count(*)::int as n from ai_controls_embedding group by 1, 2`);
      assert.deepEqual(models, [{ model_name: 'fake-embed-16', dimension: 16, n: 370 }]);
      assert.equal((await jsonLines(path.join(data, 'model_runs', 'embedding', `${UPLOAD_3}.jsonl`))).length, 370);
    } finally {
      await server.close();
    }
  });

  it('writes nothing when the embedder fails half-way, and respects the operation lock and the caller\'s transaction', async () => {
    const { url, config, data } = await setup('fail', { themes: true });
    const ctx = await openContext(config);
    const server = await startEmbeddingsServer(8, ({ index }) => (index >= 2 ? { status: 500, body: 'boom' } : undefined));
    try {
      const embedder = new RemoteEmbedder({ url: server.url, model: 'flaky', apiKey: undefined, baseDelayMs: 5, maxAttempts: 2 });
      await assert.rejects(runEnrichment(ctx, { uploadId: UPLOAD_1, embedder, batchSize: 100 }), /failed after 2 attempts: HTTP 500/);
      assert.deepEqual(await counts(url), { embedding: 0, enrichment: 0, feature_prep: 0, mapped: 0 });
      for (const kind of ['embedding', 'enrichment', 'feature_prep', 'taxonomy_mapping']) assert.deepEqual(await readdir(path.join(data, 'model_runs', kind)), []);
      await assert.rejects(runEnrichment(ctx, { uploadId: 'UPL-2026-0099' }), (err: unknown) => err instanceof NfrError && err.code === 'NOT_FOUND');
      await assert.rejects(runEnrichment(ctx, { uploadId: '../../etc' }), (err: unknown) => err instanceof NfrError && err.code === 'USAGE');
      // Enrichment shares the operation lock with ingestion and snapshots...
      await withOperation(ctx, 'create', null, async () => {
        await assert.rejects(runEnrichment(ctx, { uploadId: UPLOAD_1 }), (err: unknown) => err instanceof NfrError && err.code === 'LOCKED');
      });
      // ...and refuses to commit a caller's open transaction.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query('begin');
        await assert.rejects(runEnrichmentLocked(ctx, client, { uploadId: UPLOAD_1 }), /outside a transaction/);
        await client.query('rollback');
        const ok = await runEnrichmentLocked(ctx, client, { uploadId: UPLOAD_1 });
        assert.equal(ok.controls_computed, 370);
      } finally {
        await client.end();
      }
    } finally {
      await server.close();
    }
  });
});

/** A TCP port nobody listens on (bound, read, released). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

