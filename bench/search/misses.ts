/**
 * `node dist/bench/search/misses.js` (after `npx tsc -p tsconfig.json`): where the expected control
 * of each tuning question of questions.json ranks, and what outranks it, per mode with the GloVe
 * embedder on the NIST sample — the starting point for a search-quality change, about 30 s. The
 * held-out questions are left out, so a tuner never sees them (BENCH_SEARCH_HELD_OUT=1 shows them
 * instead, for a final look only). MODES picks the modes (default hybrid,keyword,semantic); QUIET=1
 * prints the counts only. BENCH_SEARCH_DUMP=<file> also writes what trying a ranking offline needs:
 * every question's keyword ranking (the first 50, with scores), its lexemes (to_tsvector), and every
 * control's parent and feature-preparation vector (text form).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { createEmbedder } from '../../src/enrich/create-embedder.js';
import { clientConfig } from '../../src/postgres/connection.js';
import { searchControls, type SearchMode } from '../../src/search/search.js';
import { Workspace } from '../api/workspace.js';
import { runBench } from '../main.js';

interface Question {
  readonly q: string;
  readonly family: string;
  readonly controls: string[];
  readonly set?: string;
}
const questions = (JSON.parse(readFileSync(new URL('../../../bench/search/questions.json', import.meta.url), 'utf8')) as { questions: Question[] }).questions;
const isExpected = (id: string, controls: readonly string[]) => controls.some((c) => id === c || id.startsWith(`${c}.`));

async function run(): Promise<void> {
  const heldOut = process.env.BENCH_SEARCH_HELD_OUT === '1';
  const chosen = questions.filter((x) => (x.set === 'held-out') === heldOut);
  const modes = (process.env.MODES ?? 'hybrid,keyword,semantic').split(',') as SearchMode[];
  const ws = await Workspace.open(process.env.BENCH_DIR ?? tmpdir(), process.env.PG_BIN_DIR);
  try {
    await ws.nfr(['pipeline', 'run', '--sample'], { NFR_EMBEDDER: 'glove', EMBEDDINGS_URL: undefined });
    await ws.nfr(['index', '--force'], { NFR_EMBEDDER: 'glove', EMBEDDINGS_URL: undefined });
    const config = loadConfig({}, ws.env({ NFR_EMBEDDER: 'glove' }) as NodeJS.ProcessEnv);
    const embedder = createEmbedder(config);
    const client = new pg.Client(clientConfig(ws.cluster.target('bench_api'), 'nfr bench misses'));
    await client.connect();
    try {
      const search = (q: string, mode: SearchMode, limit: number) => searchControls(config, { q, mode, limit }, { withClient: (fn) => fn(client), checkFreshness: false, embedder });
      if (process.env.BENCH_SEARCH_DUMP) {
        const keyword: { q: string; keyword: { id: string; score: number }[]; lexemes: string[] }[] = [];
        for (const { q } of chosen) {
          const r = await search(q, 'keyword', 50);
          const lexemes = await client.query<{ l: string[] }>(`select array(select lexeme from unnest(to_tsvector('english', $1))) as l`, [q]);
          keyword.push({ q, keyword: r.results.map((h) => ({ id: h.control_id, score: h.score })), lexemes: lexemes.rows[0]?.l ?? [] });
        }
        const docs = await client.query<{ control_id: string; parent_control_id: string | null; sv: string }>(
          `select v.control_id, v.parent_control_id, p.search_vector::text as sv
             from ai_controls_feature_prep p join src_controls_ver_control v on v.control_id = p.control_id and v.text_hash = p.text_hash and v.tx_to is null`,
        );
        writeFileSync(process.env.BENCH_SEARCH_DUMP, JSON.stringify({ questions: keyword, docs: docs.rows }));
      }
      for (const mode of modes) {
        let hits = 0;
        const lines: string[] = [];
        for (const { q, controls } of chosen) {
          const r = await search(q, mode, 30);
          const rank = r.results.findIndex((h) => isExpected(h.control_id, controls)) + 1;
          if (rank >= 1 && rank <= 5) {
            hits++;
            continue;
          }
          lines.push(`  MISS [${rank || '>30'}] ${q} (${controls.join('/')})`);
          const show = (h: (typeof r.results)[number]) => `${h.control_id.padEnd(9)} ${h.score.toFixed(3)} k${h.match.keyword_rank ?? '-'} s${h.match.semantic_rank ?? '-'} ${h.title}`;
          for (const h of r.results.slice(0, 5)) lines.push(`      ${show(h)}`);
          const expected = r.results.find((h) => isExpected(h.control_id, controls));
          if (expected) lines.push(`    → ${show(expected)}`);
        }
        process.stdout.write(`${mode}: ${hits}/${chosen.length} control hit@5 (${heldOut ? 'held-out' : 'tuning'} questions)\n${process.env.QUIET === '1' ? '' : `${lines.join('\n')}\n`}`);
      }
    } finally {
      await client.end();
    }
  } finally {
    await ws.dispose();
  }
}

runBench(run);
