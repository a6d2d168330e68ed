/**
 * Search as users run it, on the NIST sample (`nfr pipeline run --sample`) in a real cluster:
 * the four modes, id matching, filters, cursor paging, the API (GET and POST), a running server
 * seeing a new `nfr index`, and `nfr control show` with its history now and as of a moment.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfrJson, serveNfr, testEnv, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { query, withUrl } from './support/data.js';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createEmbedder } from '../src/enrich/create-embedder.js';
import { openIndex } from '../src/index/open-index.js';
import { pgSignature } from '../src/index/pg-source.js';
import { withPoolClient } from '../src/postgres/pool.js';
import { parseTsvector, residentKeywords } from '../src/search/keyword-resident.js';
import { searchControls } from '../src/search/search.js';
import { cachedSignature } from '../src/server/signature.js';

const READER = 'reader-token-search-0123456789';
const cluster = fileCluster(setUp);
let env: Env;
let dbUrl: string;
let dir: string;

async function setUp(): Promise<void> {
  const db = await cluster.createDatabase('search');
  dbUrl = db.url;
  dir = cluster.tempDir('search');
  env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('search-backups'), NFR_HOME: cluster.tempDir('search-home'), API_TOKENS: `reader:${READER}` });
  const run = await nfrJson(['pipeline', 'run', '--sample'], env);
  assert.equal(run.code, 0, run.stderr);
}

const ids = (r: { body: { results: { control_id: string }[] } }) => r.body.results.map((h) => h.control_id);

describe('tsvector text', () => {
  it('parses lexemes, positions, weights and quoting as PostgreSQL prints them', () => {
    assert.deepEqual(parseTsvector("'access':1A,5B 'it''s':3 'plain' 'back\\\\slash':2,7A"), [
      { lexeme: 'access', tf: 2, title: true },
      { lexeme: "it's", tf: 1, title: false },
      { lexeme: 'plain', tf: 1, title: false },
      { lexeme: 'back\\slash', tf: 2, title: true },
    ]);
    assert.deepEqual(parseTsvector(''), []);
  });
});

describe('search', () => {
  it('ranks hybrid by default, fusing keyword and semantic rankings', async () => {
    const r = await nfrJson(['search', 'multi-factor login for privileged users'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.body.mode, 'hybrid');
    assert.equal(r.body.backend, 'embedded');
    assert.equal(r.body.index_points, 370);
    assert.deepEqual(r.body.warnings, []);
    assert.equal(r.body.results.length, 10);
    assert.ok(r.body.results.slice(0, 5).some((h: any) => h.family_id === 'IA'), `IA in the top 5: ${ids(r).join(', ')}`);
    assert.ok(r.body.results.some((h: any) => h.match.keyword_rank !== null && h.match.semantic_rank !== null), 'some results are in both rankings');
    const scores = r.body.results.map((h: any) => h.score);
    assert.deepEqual(scores, [...scores].sort((a: number, b: number) => b - a), 'best first');
  });

  it('weighs the two rankings by NFR_SEARCH_KEYWORD_WEIGHT, and refuses a weight outside 0..1', async () => {
    const q = 'protect audit information from unauthorized modification';
    const ranking = async (extra: Record<string, string>, mode?: string) => {
      const r = await nfrJson(['search', q, '--limit', '10', ...(mode ? ['--mode', mode] : [])], { ...env, ...extra });
      assert.equal(r.code, 0, r.stderr);
      return r.body.results as { control_id: string; score: number; match: { keyword_rank: number | null; semantic_rank: number | null } }[];
    };
    const keyword = await ranking({}, 'keyword');
    const semantic = await ranking({}, 'semantic');
    const allKeyword = await ranking({ NFR_SEARCH_KEYWORD_WEIGHT: '1' });
    const allSemantic = await ranking({ NFR_SEARCH_KEYWORD_WEIGHT: '0' });
    const mixed = await ranking({});
    // Scaled scores keep each ranking's order; a weight of 1 or 0 leaves one ranking alone.
    assert.deepEqual(allKeyword.map((h) => h.control_id), keyword.map((h) => h.control_id));
    assert.deepEqual(allSemantic.map((h) => h.control_id), semantic.map((h) => h.control_id));
    assert.equal(allKeyword[0]?.score, 1, 'the best keyword match scales to 1');
    assert.notDeepEqual(mixed.map((h) => h.control_id), keyword.map((h) => h.control_id), 'the default weight mixes both');
    assert.ok(mixed.some((h) => h.match.keyword_rank !== null && h.match.semantic_rank !== null));

    const bad = await nfrJson(['search', q], { ...env, NFR_SEARCH_KEYWORD_WEIGHT: '1.5' });
    assert.equal(bad.code, 2);
    assert.match(bad.body.error.message, /NFR_SEARCH_KEYWORD_WEIGHT="1.5": expected a number from 0 to 1/);
  });

  it('answers each mode from its own ranking', async () => {
    const keyword = await nfrJson(['search', 'audit record retention', '--mode', 'keyword', '--limit', '5'], env);
    assert.equal(keyword.code, 0, keyword.stderr);
    assert.equal(keyword.body.results[0].family_id, 'AU');
    assert.ok(keyword.body.results.every((h: any) => h.match.semantic_rank === null && h.match.keyword_rank !== null));
    assert.equal(keyword.body.backend, null, 'keyword search does not open the vector index');

    const semantic = await nfrJson(['search', 'audit record retention', '--mode', 'semantic', '--limit', '5'], env);
    assert.equal(semantic.code, 0, semantic.stderr);
    assert.ok(semantic.body.results.every((h: any) => h.match.keyword_rank === null && h.match.semantic_rank !== null));
    assert.equal(semantic.body.results[0].match.semantic_rank, 1);

    const none = await nfrJson(['search', 'zzzqqq xylophone', '--mode', 'keyword'], env);
    assert.equal(none.code, 0);
    assert.deepEqual(none.body.results, [], 'no word in any control: no keyword result');

    const bad = await nfrJson(['search', 'x', '--mode', 'fuzzy'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.body.error.message, /--mode fuzzy: expected one of hybrid, keyword, semantic, id/);
  });

  it('puts exact id matches first, in any case, and finds enhancements by id prefix', async () => {
    const hybrid = await nfrJson(['search', 'ia-2.1'], env);
    assert.equal(hybrid.body.results[0].control_id, 'IA-2.1');
    assert.equal(hybrid.body.results[0].match.id, true);
    const mixed = await nfrJson(['search', 'AC-2 account review'], env);
    assert.equal(mixed.body.results[0].control_id, 'AC-2');

    const id = await nfrJson(['search', 'ac-2', '--mode', 'id', '--limit', '100'], env);
    assert.equal(id.code, 0, id.stderr);
    assert.equal(ids(id)[0], 'AC-2');
    assert.ok(ids(id).every((c) => c.startsWith('AC-2')));
    const expected = await query(dbUrl, "select control_id from src_controls_ver_control where tx_to is null and control_id like 'AC-2%'");
    assert.deepEqual([...ids(id)].sort(), expected.map((r: any) => r.control_id).sort(), 'every control whose id starts with AC-2');
    assert.ok(ids(id).includes('AC-2.1'));
  });

  it('filters every mode by family, status and key control, in SQL and in the index payload', async () => {
    for (const mode of ['hybrid', 'keyword', 'semantic']) {
      const r = await nfrJson(['search', 'encrypt data', '--mode', mode, '--family', 'SC,IA', '--limit', '20'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.body.results.length > 0, mode);
      assert.ok(r.body.results.every((h: any) => h.family_id === 'SC' || h.family_id === 'IA'), `${mode}: ${ids(r).join(', ')}`);
    }
    await query(dbUrl, "update src_controls_ver_control set key_control = (control_id in ('AC-2', 'AC-3', 'AC-6')) where tx_to is null");
    await query(dbUrl, "update src_controls_ver_control set status = 'retired' where tx_to is null and control_id = 'AC-3'");
    assert.equal((await nfrJson(['index'], env)).code, 0, 'the payloads take the new attributes');
    const key = await nfrJson(['search', 'account access', '--key-control', 'yes', '--limit', '50'], env);
    assert.equal(key.code, 0, key.stderr);
    assert.deepEqual([...ids(key)].sort(), ['AC-2', 'AC-3', 'AC-6']);
    const active = await nfrJson(['search', 'account access', '--key-control', 'yes', '--status', 'active', '--mode', 'semantic'], env);
    assert.deepEqual([...ids(active)].sort(), ['AC-2', 'AC-6']);
    const retired = await nfrJson(['search', 'account access', '--status', 'retired', '--mode', 'keyword'], env);
    assert.deepEqual(ids(retired), ['AC-3']);
    assert.equal((await nfrJson(['search', 'x', '--key-control', 'maybe'], env)).code, 2);
  });

  it('pages with a cursor that belongs to its query', async () => {
    const all = await nfrJson(['search', 'incident response', '--limit', '10'], env);
    const first = await nfrJson(['search', 'incident response', '--limit', '5'], env);
    assert.ok(first.body.next_cursor);
    const second = await nfrJson(['search', 'incident response', '--limit', '5', '--cursor', first.body.next_cursor], env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.body.offset, 5);
    assert.deepEqual([...ids(first), ...ids(second)], ids(all));
    const other = await nfrJson(['search', 'backup power', '--limit', '5', '--cursor', first.body.next_cursor], env);
    assert.equal(other.code, 12);
    assert.match(other.body.error.message, /another query/);
    assert.equal((await nfrJson(['search', 'x', '--cursor', 'not-a-cursor'], env)).code, 12);
    const last = await nfrJson(['search', 'ac-2', '--mode', 'id', '--limit', '100'], env);
    assert.equal(last.body.next_cursor, null, 'the last page has no cursor');
  });

  it('answers the same through the API, by query parameters and by a JSON body', async () => {
    const server = await serveNfr(env);
    try {
      const headers = { authorization: `Bearer ${READER}` };
      const get = await fetch(`${server.base}/api/v2/controls/search?q=${encodeURIComponent('protect information')}&mode=keyword&family_id=SC&limit=3`, { headers });
      assert.equal(get.status, 200);
      const g = (await get.json()) as any;
      assert.equal(g.mode, 'keyword');
      assert.equal(g.results.length, 3);
      assert.ok(g.results.every((h: any) => h.family_id === 'SC'));
      assert.ok(g.next_cursor);
      const post = await fetch(`${server.base}/api/v2/controls/search`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ q: 'protect information', mode: 'keyword', filters: { family_id: ['SC'] }, limit: 3 }),
      });
      assert.equal(post.status, 200);
      const p = (await post.json()) as any;
      assert.deepEqual(p.results.map((h: any) => h.control_id), g.results.map((h: any) => h.control_id));
      const next = await fetch(`${server.base}/api/v2/controls/search?q=${encodeURIComponent('protect information')}&mode=keyword&family_id=SC&limit=3&cursor=${g.next_cursor}`, { headers });
      assert.equal(((await next.json()) as any).offset, 3);
      const bad = await fetch(`${server.base}/api/v2/controls/search?q=x&mode=fuzzy`, { headers });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as any).error.code, 'INVALID_INPUT');

      // The server searches its in-memory copy of the index; the CLI streams the files: the same
      // controls, the same scores.
      const q = 'protect audit information from unauthorized modification';
      const served = (await (await fetch(`${server.base}/api/v2/controls/search?q=${encodeURIComponent(q)}&mode=semantic&limit=20`, { headers })).json()) as any;
      const streamed = await nfrJson(['search', q, '--mode', 'semantic', '--limit', '20'], env);
      assert.deepEqual(served.results.map((h: any) => [h.control_id, h.score]), streamed.body.results.map((h: any) => [h.control_id, h.score]));
      // Keyword ranking from the server's postings equals the SQL ranking the CLI runs.
      for (const [kq, family] of [['audit record retention', ''], ['protect information', 'SC'], ['account management review', 'AC,IA']] as const) {
        const params = `q=${encodeURIComponent(kq)}&mode=keyword&limit=15${family ? `&family_id=${family}` : ''}`;
        const fromMemory = (await (await fetch(`${server.base}/api/v2/controls/search?${params}`, { headers })).json()) as any;
        const fromSql = await nfrJson(['search', kq, '--mode', 'keyword', '--limit', '15', ...(family ? ['--family', family] : [])], env);
        assert.ok(fromMemory.results.length > 0, kq);
        assert.deepEqual(fromMemory.results.map((h: any) => [h.control_id, h.score]), fromSql.body.results.map((h: any) => [h.control_id, h.score]), kq);
      }
      const filteredServed = (await (await fetch(`${server.base}/api/v2/controls/search?q=${encodeURIComponent(q)}&mode=semantic&family_id=AU&limit=20`, { headers })).json()) as any;
      assert.ok(filteredServed.results.length > 0 && filteredServed.results.every((h: any) => h.family_id === 'AU'));

      // A control ingested and indexed while the server runs is found by it at once.
      const file = path.join(dir, 'new.csv');
      await writeFile(file, 'control_id,control_title,control_description,family_id,family\nZZ-1,Quantum key distribution links,Protect quantum key distribution links between data centres,SC,System and Communications Protection\n');
      assert.equal((await nfrJson(['ingest', 'controls', file], env)).code, 0);
      assert.equal((await nfrJson(['index'], env)).code, 0);
      const found = await fetch(`${server.base}/api/v2/controls/search?q=${encodeURIComponent('quantum key distribution')}&mode=semantic&limit=1`, { headers });
      const f = (await found.json()) as any;
      assert.equal(f.results[0]?.control_id, 'ZZ-1');
      assert.equal(f.index_points, 371);
    } finally {
      await server.stop();
    }
  });

  it('shows a control now and as it was before a change', async () => {
    const now = await nfrJson(['control', 'show', 'AC-1'], env);
    assert.equal(now.code, 0, now.stderr);
    assert.equal(now.body.control_id, 'AC-1');
    assert.equal(now.body.attributes.title, 'Policy and Procedures');
    assert.equal(now.body.history.length, 1);
    // The change below is ingested after this moment, so its version starts later.
    const before = new Date().toISOString();
    const file = path.join(dir, 'changed.csv');
    await writeFile(file, 'control_id,control_title,control_description,family_id,family\nAC-1,Access control policy (revised),The policy was revised,AC,Access Control\n');
    const ingest = await nfrJson(['ingest', 'controls', file], env);
    assert.equal(ingest.code, 0, ingest.stderr);
    const changed = await nfrJson(['control', 'show', 'AC-1'], env);
    assert.equal(changed.body.attributes.title, 'Access control policy (revised)');
    assert.equal(changed.body.history.length, 2);
    assert.equal(changed.body.history[1].tx_to, changed.body.history[0].tx_from, 'the old version closed when the new one opened');
    const then = await nfrJson(['control', 'show', 'AC-1', '--as-of', before], env);
    assert.equal(then.body.attributes.title, 'Policy and Procedures');
    const text = await nfrJson(['control', 'show', 'AC-1', '--as-of', 'yesterday-ish'], env);
    assert.equal(text.code, 12);
    assert.match(text.body.error.message, /not a timestamp/);
    const missing = await nfrJson(['control', 'show', 'NOPE-1'], env);
    assert.equal(missing.code, 4);
  });
});

describe('search on the server pool', () => {
  /** A pool of one connection, as ten busy requests leave a pool of ten, and the statements its client ran. */
  async function onePool(): Promise<{ pool: pg.Pool; statements: string[] }> {
    const statements: string[] = [];
    const pool = new pg.Pool({ connectionString: dbUrl, max: 1, connectionTimeoutMillis: 5000 });
    pool.on('connect', (client) => {
      const run = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const q = args[0] as string | { text: string };
        statements.push(typeof q === 'string' ? q : q.text);
        return run(...args);
      };
    });
    return { pool, statements };
  }

  it('ranks hybrid without holding a client while the data signature and the keyword postings are read on the same pool', async () => {
    const { pool } = await onePool();
    try {
      const config = loadConfig({}, env as NodeJS.ProcessEnv);
      const withClient = <T>(fn: (c: pg.ClientBase) => Promise<T>) => withPoolClient(pool, fn);
      // The signature read on every call (no reading left running in the background when the
      // pool ends): the search's keyword side must read it, and then build the postings, each on
      // the pool's only connection. Holding that connection meanwhile would wait for the pool's
      // connection timeout and fail.
      const signature = cachedSignature(pool, -1);
      const r = await searchControls(config, { q: 'audit record retention', limit: 10 }, { withClient, signature, keywords: residentKeywords(signature, withClient), embedder: createEmbedder(config), index: openIndex(config, { resident: true }) });
      assert.equal(r.mode, 'hybrid');
      assert.equal(r.results.length, 10);
      assert.ok(r.results.some((h) => h.match.keyword_rank !== null && h.match.semantic_rank !== null), 'fused from both rankings');
      const cli = await nfrJson(['search', 'audit record retention'], env);
      assert.deepEqual(r.results.map((h) => h.control_id), cli.body.results.map((h: any) => h.control_id), 'the same ranking as the CLI');
    } finally {
      await pool.end();
    }
  });

  it('reads the data signature again only when a write may have changed it, and then sees the write', async () => {
    const { pool, statements } = await onePool();
    try {
      const signature = cachedSignature(pool, -1);
      const scans = () => statements.filter((s) => s.includes('count(*)')).length;
      const first = await signature();
      assert.equal(first, await withUrl(dbUrl, pgSignature));
      assert.equal(scans(), 1);
      // Nothing written: the visibility probe answers, no scan.
      assert.equal(await signature(), first);
      assert.equal(scans(), 1, 'no second scan without a write');
      assert.ok(statements.some((s) => s.includes('pg_current_snapshot') && !s.includes('count(*)')), 'the probe ran');
      // A control's current version closed: seen by the next reading.
      await query(dbUrl, `update src_controls_ver_control set tx_to = now() where control_id = 'ZZ-1' and tx_to is null`);
      const after = await signature();
      assert.equal(scans(), 2);
      assert.notEqual(after, first);
      assert.equal(after, await withUrl(dbUrl, pgSignature));
    } finally {
      await pool.end();
    }
  });
});
