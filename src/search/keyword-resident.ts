/**
 * The keyword index `nfr serve` keeps in memory: the same BM25 as keyword.ts, over the same
 * vectors, computed the same way, but from postings instead of a scan of PostgreSQL. BM25 for an
 * OR of common words touches most controls, which in SQL means reading and unnesting most
 * vectors on every query (about a second at 20,000 controls); from postings it is milliseconds.
 *
 * Built from PostgreSQL (current controls, feature preparation's vector or the computed one, and
 * the attributes filters need) through a cursor, and rebuilt when the data signature the server
 * already reads for search (pgSignature: any version or risk-theme link written) has changed;
 * every request waits for the one build in progress. Only the query's words still go to
 * PostgreSQL, to be stemmed by the same `english` configuration the vectors were built with.
 * Memory: about 0.5 KiB per control plus 7 bytes per (control, word) pair (typed arrays).
 */
import type pg from 'pg';
import { matchesFilter, type SearchFilter } from '../index/types.js';
import { inSnapshot } from '../postgres/connection.js';
import { TopK } from '../index/top-k.js';
import { B, K1, TITLE_BOOST, type ControlRow, type KeywordHit } from './keyword.js';

interface Doc extends ControlRow {
  /** Number of lexemes in the vector: length(tsvector). */
  readonly length: number;
}

/** The controls holding one lexeme, in control id order, with its count and title flag in each. */
interface Posting {
  readonly docs: Int32Array;
  readonly tf: Uint16Array;
  readonly title: Uint8Array;
}

/**
 * The lexemes of a tsvector's text form (`'word':1A,4B 'it''s':2`) with their position count and
 * whether one position has weight A. A lexeme without positions counts once, weight D.
 */
export function parseTsvector(text: string): { lexeme: string; tf: number; title: boolean }[] {
  const out: { lexeme: string; tf: number; title: boolean }[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ') i++;
    if (i >= text.length) break;
    if (text[i] !== "'") throw new Error(`tsvector text: expected a quote at ${i}`);
    i++;
    let lexeme = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error('tsvector text: unterminated lexeme');
      if (c === "'" && text[i + 1] === "'") {
        lexeme += "'";
        i += 2;
      } else if (c === '\\') {
        lexeme += text[i + 1] ?? '';
        i += 2;
      } else if (c === "'") {
        i++;
        break;
      } else {
        lexeme += c;
        i++;
      }
    }
    let tf = 1;
    let title = false;
    if (text[i] === ':') {
      i++;
      let end = text.indexOf(' ', i);
      if (end < 0) end = text.length;
      const positions = text.slice(i, end).split(',');
      tf = positions.length;
      title = positions.some((p) => p.endsWith('A'));
      i = end;
    }
    out.push({ lexeme, tf, title });
  }
  return out;
}

export class ResidentKeywordIndex {
  /** Lexemes per control, by row: read in the scoring loops without touching the objects. */
  private readonly lengths: Uint32Array;
  #scratch: { matched: Int32Array; scores: Float64Array; lengthNorm: Float64Array; seen: Uint8Array } | undefined;

  private constructor(
    private readonly docs: readonly Doc[],
    private readonly postings: ReadonlyMap<string, Posting>,
  ) {
    this.lengths = Uint32Array.from(docs, (d) => d.length);
  }

  get size(): number {
    return this.docs.length;
  }

  /** Reads every current control's vector and attributes through a cursor, 5,000 at a time. */
  static async load(client: pg.ClientBase): Promise<ResidentKeywordIndex> {
    const docs: Doc[] = [];
    const building = new Map<string, { docs: number[]; tf: number[]; title: number[] }>();
    await inSnapshot(client, async () => {
      await client.query(
        `declare nfr_keyword_docs no scroll cursor for
         select v.control_id, v.title, v.status, v.family_id, v.key_control, v.owning_function_id, v.owning_location_id,
                coalesce((select array_agg(t.risk_theme_id order by t.risk_theme_id) from src_controls_rel_risk_theme t
                           where t.control_id = v.control_id and t.tx_to is null), '{}') as risk_theme_ids,
                coalesce(p.search_vector,
                         setweight(to_tsvector('english', v.title), 'A') || setweight(to_tsvector('english', coalesce(v.description, '')), 'B'))::text as sv
           from src_controls_ver_control v
           left join ai_controls_feature_prep p on p.control_id = v.control_id and p.text_hash = v.text_hash
          where v.tx_to is null
          order by v.control_id`,
      );
      for (;;) {
        const r = await client.query<Omit<Doc, 'length'> & { sv: string }>('fetch forward 5000 from nfr_keyword_docs');
        if (r.rows.length === 0) break;
        for (const { sv, ...attributes } of r.rows) {
          const lexemes = parseTsvector(sv);
          const id = docs.length;
          docs.push({ ...attributes, length: lexemes.length });
          for (const l of lexemes) {
            let p = building.get(l.lexeme);
            if (!p) building.set(l.lexeme, (p = { docs: [], tf: [], title: [] }));
            p.docs.push(id);
            p.tf.push(Math.min(l.tf, 65535));
            p.title.push(l.title ? 1 : 0);
          }
        }
      }
    });
    // Typed arrays: a quarter of the memory of number arrays, and no pointers for the GC to trace.
    const postings = new Map<string, Posting>();
    for (const [lexeme, p] of building) postings.set(lexeme, { docs: Int32Array.from(p.docs), tf: Uint16Array.from(p.tf), title: Uint8Array.from(p.title) });
    return new ResidentKeywordIndex(docs, postings);
  }

  /** BM25 of keyword.ts: N over the controls the filter admits, average length over the matches. */
  search(lexemes: readonly string[], filter: SearchFilter | undefined, limit: number): KeywordHit[] {
    const terms = [...new Set(lexemes)].map((l) => this.postings.get(l)).filter((p): p is Posting => p !== undefined);
    if (terms.length === 0) return [];
    const docs = this.docs;
    const lengths = this.lengths;
    // Per control, when filtered: 1 admitted, 0 not (computed once per query, over every control).
    let admitted: Uint8Array | undefined;
    let n = docs.length;
    if (filter) {
      admitted = new Uint8Array(docs.length);
      n = 0;
      for (let doc = 0; doc < docs.length; doc++) {
        if (matchesFilter(docs[doc] as Doc, filter)) {
          admitted[doc] = 1;
          n++;
        }
      }
    }
    // The controls holding any term, in the order first met; per control its running score and
    // the length part of BM25's denominator, the same for every term. Reused by every search
    // (they run one at a time) and cleared where this one wrote: no megabytes allocated per query.
    const { matched, scores, lengthNorm, seen } = (this.#scratch ??= {
      matched: new Int32Array(docs.length),
      scores: new Float64Array(docs.length),
      lengthNorm: new Float64Array(docs.length),
      seen: new Uint8Array(docs.length),
    });
    let m = 0;
    try {
      const df = new Float64Array(terms.length);
      let total = 0;
      for (let k = 0; k < terms.length; k++) {
        const postings = (terms[k] as Posting).docs;
        let count = 0;
        for (let j = 0; j < postings.length; j++) {
          const doc = postings[j] as number;
          if (admitted !== undefined && admitted[doc] === 0) continue;
          count++;
          if (seen[doc] === 0) {
            seen[doc] = 1;
            matched[m++] = doc;
            total += lengths[doc] as number;
          }
        }
        df[k] = count;
      }
      if (m === 0) return [];
      const avgdl = Math.max(total / m, 1);
      for (let i = 0; i < m; i++) {
        const doc = matched[i] as number;
        lengthNorm[doc] = K1 * (1 - B + (B * (lengths[doc] as number)) / avgdl);
      }
      for (let k = 0; k < terms.length; k++) {
        const d = df[k] as number;
        const idf = Math.log(1 + (n - d + 0.5) / (d + 0.5));
        const { docs: postings, tf: tfs, title } = terms[k] as Posting;
        for (let j = 0; j < postings.length; j++) {
          const doc = postings[j] as number;
          if (admitted !== undefined && admitted[doc] === 0) continue;
          const tf = tfs[j] as number;
          scores[doc] = (scores[doc] as number) + idf * ((tf * (K1 + 1)) / (tf + (lengthNorm[doc] as number))) * (title[j] ? TITLE_BOOST : 1);
        }
      }
      // Ties in control id order, as the SQL orders them (docs are loaded in control id order, and
      // TopK breaks ties by row whatever the order of offers).
      const top = new TopK(limit);
      let floor = -Infinity;
      for (let i = 0; i < m; i++) {
        const doc = matched[i] as number;
        const score = scores[doc] as number;
        if (score < floor) continue;
        top.offer(doc, score);
        floor = top.floor;
      }
      return top.sorted().map(({ row, score }) => {
        const d = docs[row] as Doc;
        return {
          control_id: d.control_id,
          title: d.title,
          status: d.status,
          family_id: d.family_id,
          key_control: d.key_control,
          owning_function_id: d.owning_function_id,
          owning_location_id: d.owning_location_id,
          risk_theme_ids: d.risk_theme_ids,
          score,
        };
      });
    } finally {
      for (let i = 0; i < m; i++) {
        const doc = matched[i] as number;
        seen[doc] = 0;
        scores[doc] = 0;
      }
    }
  }
}

/** The query's words as the `english` configuration stems them (a prepared statement: planned once per connection). */
export async function queryLexemes(client: pg.ClientBase, q: string): Promise<string[]> {
  const r = await client.query<{ lexeme: string }>({
    name: 'nfr-query-lexemes',
    text: "select distinct lexeme from unnest(tsvector_to_array(to_tsvector('english', $1))) as lexeme",
    values: [q],
  });
  return r.rows.map((row) => row.lexeme);
}

/**
 * The server's resident keyword index, rebuilt when `signature()` changes. `load` runs with a
 * client of the caller's choosing (the server's pool).
 */
export function residentKeywords(signature: () => Promise<string>, withClient: <T>(fn: (c: pg.ClientBase) => Promise<T>) => Promise<T>): () => Promise<ResidentKeywordIndex> {
  let held: { signature: string; index: Promise<ResidentKeywordIndex> } | undefined;
  return async () => {
    const current = await signature();
    if (held?.signature !== current) {
      const index = withClient((c) => ResidentKeywordIndex.load(c));
      held = { signature: current, index };
      index.catch(() => {
        if (held?.index === index) held = undefined;
      });
    }
    return held.index;
  };
}
