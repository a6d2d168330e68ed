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
 * Memory: about 0.5 KiB per control plus 7 bytes per (control, word) pair (typed arrays), and
 * once hybrid search has run, a map from control id to row (about 48 bytes per control).
 */
import type pg from 'pg';
import { AttributeTable, type ControlAttributes } from '../index/attribute-table.js';
import { ResidentDoesNotFit, type ResidentBudget } from '../index/resident-budget.js';
import type { SearchFilter } from '../index/types.js';
import { inSnapshot } from '../postgres/connection.js';
import { TopK } from '../index/top-k.js';
import { PARTICLES, type CompoundPosting, type HeadStems } from './compounds.js';
import { B, K1, TITLE_BOOST, type ControlRow, type KeywordHit } from './keyword.js';

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

/** Entries per chunk of the build's stream of (lexeme, tf and title) pairs: 384 KiB each. */
const STREAM_CHUNK = 65536;

export class ResidentKeywordIndex {
  #scratch: { matched: Int32Array; scores: Float64Array; lengthNorm: Float64Array; seen: Uint8Array } | undefined;
  /** Row by control id, for rows(): made by the first hybrid search. */
  #rowOf: Map<string, number> | undefined;

  /**
   * Postings of every lexeme, one after another in lexeme number order: lexeme k's controls are
   * rows docs[start[k] .. start[k + 1]) in row (control id) order, and tfTitle holds for each its
   * position count times two, plus one when a position has weight A (the title). PostgreSQL keeps
   * at most 256 positions per lexeme, so the count always fits.
   */
  private constructor(
    private readonly table: AttributeTable,
    /** Lexemes per control, by row: length(tsvector). */
    private readonly lengths: Uint32Array,
    private readonly lexemes: ReadonlyMap<string, number>,
    private readonly start: Uint32Array,
    private readonly docs: Int32Array,
    private readonly tfTitle: Uint16Array,
  ) {}

  get size(): number {
    return this.table.size;
  }

  /** Memory it holds, estimated (typed arrays exactly; strings and the lexeme map roughly). */
  get bytes(): number {
    let lexemes = 0;
    for (const l of this.lexemes.keys()) lexemes += 48 + l.length;
    // The row-by-id map of rows(), counted whether made yet or not: about 48 bytes an entry.
    return this.table.bytes + this.lengths.byteLength + this.start.byteLength + this.docs.byteLength + this.tfTitle.byteLength + lexemes + 48 * this.table.size;
  }

  /**
   * Reads every current control's vector and attributes through a cursor, 5,000 at a time,
   * straight into the final arrays: the (lexeme, tf, title) pairs are appended to a stream of
   * fixed-size typed chunks as the controls arrive, then laid out by lexeme (a counting sort) and
   * the stream dropped. The transient is the stream, 6 bytes per pair; nothing is held per pair
   * as a JavaScript value. `fits(steady, building)` may refuse once the size is known (from the
   * count and the first batch): the load then fails with RESOURCE_LIMIT and nothing is kept.
   */
  static async load(client: pg.ClientBase, fits: (bytes: { steady: number; building: number }) => void = () => {}): Promise<ResidentKeywordIndex> {
    const lexemes = new Map<string, number>();
    const chunks: { lex: Int32Array; tft: Uint16Array }[] = [];
    let pairs = 0;
    let table: AttributeTable | undefined;
    let lengths = new Uint32Array(0);
    await inSnapshot(client, async () => {
      const count = Number((await client.query<{ n: string }>('select count(*) as n from src_controls_ver_control where tx_to is null')).rows[0]?.n ?? 0);
      const builder = AttributeTable.builder(count);
      lengths = new Uint32Array(count);
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
      let checked = false;
      for (;;) {
        const r = await client.query<ControlAttributes & { sv: string }>('fetch forward 5000 from nfr_keyword_docs');
        if (r.rows.length === 0) break;
        for (const { sv, ...attributes } of r.rows) {
          const doc = builder.size;
          if (doc >= count) break;
          builder.add(attributes);
          const parsed = parseTsvector(sv);
          lengths[doc] = parsed.length;
          for (const l of parsed) {
            let id = lexemes.get(l.lexeme);
            if (id === undefined) lexemes.set(l.lexeme, (id = lexemes.size));
            const at = pairs % STREAM_CHUNK;
            if (at === 0) chunks.push({ lex: new Int32Array(STREAM_CHUNK), tft: new Uint16Array(STREAM_CHUNK) });
            const chunk = chunks[chunks.length - 1] as { lex: Int32Array; tft: Uint16Array };
            chunk.lex[at] = id;
            chunk.tft[at] = Math.min(l.tf, 32767) * 2 + (l.title ? 1 : 0);
            pairs++;
          }
        }
        if (!checked && builder.size > 0) {
          // The first batch tells the size of the whole: pairs and attribute bytes per control.
          checked = true;
          const pairsPerControl = pairs / builder.size;
          const steady = count * (builder.bytesPerRow + 4 + pairsPerControl * 6) + 96 * lexemes.size;
          fits({ steady: Math.round(steady), building: Math.round(steady + count * pairsPerControl * 6) });
        }
      }
      table = builder.finish();
    });
    // Lay the stream out by lexeme: count, prefix sums, then place each pair (rows in order).
    const start = new Uint32Array(lexemes.size + 1);
    for (const c of chunks) {
      const used = c === chunks[chunks.length - 1] ? pairs - (chunks.length - 1) * STREAM_CHUNK : STREAM_CHUNK;
      for (let i = 0; i < used; i++) { const k = (c.lex[i] as number) + 1; start[k] = (start[k] as number) + 1; }
    }
    for (let k = 0; k < lexemes.size; k++) start[k + 1] = (start[k + 1] as number) + (start[k] as number);
    const next = start.slice(0, lexemes.size);
    const docs = new Int32Array(pairs);
    const tfTitle = new Uint16Array(pairs);
    let doc = 0;
    let left = lengths[0] ?? 0;
    for (let p = 0; p < pairs; p++) {
      while (left === 0) left = lengths[++doc] as number;
      const c = chunks[Math.floor(p / STREAM_CHUNK)] as { lex: Int32Array; tft: Uint16Array };
      const k = c.lex[p % STREAM_CHUNK] as number;
      const at = next[k] as number;
      next[k] = at + 1;
      docs[at] = doc;
      tfTitle[at] = c.tft[p % STREAM_CHUNK] as number;
      left--;
      // A chunk fully placed is dropped at once.
      if ((p + 1) % STREAM_CHUNK === 0) chunks[Math.floor(p / STREAM_CHUNK)] = EMPTY_CHUNK;
    }
    return new ResidentKeywordIndex(table as unknown as AttributeTable, lengths, lexemes, start, docs, tfTitle);
  }

  /**
   * The rows of `ids` that are controls of this index (any order; others are absent), as
   * keyword.ts currentRows reads them from PostgreSQL: the index holds the current controls of
   * the data signature it was built for, which the server compares at most a second before each
   * search. Hybrid search checks its semantic hits here instead of in one more query.
   */
  rows(ids: readonly string[]): ControlRow[] {
    if (!this.#rowOf) {
      const rowOf = new Map<string, number>();
      for (let r = 0; r < this.table.size; r++) rowOf.set(this.table.controlId(r), r);
      this.#rowOf = rowOf;
    }
    const out: ControlRow[] = [];
    for (const id of ids) {
      const r = this.#rowOf.get(id);
      // row() makes a new array of risk themes for each call: the caller may own it.
      if (r !== undefined) out.push(this.table.row(r) as ControlRow);
    }
    return out;
  }

  /** Which of `lexemes` some control's vector holds (the vocabulary of compounds.ts). */
  known(lexemes: readonly string[]): Set<string> {
    return new Set(lexemes.filter((l) => this.lexemes.has(l)));
  }

  /**
   * BM25 of keyword.ts: N over the controls the filter admits, average length over the matches.
   * `compounds` (compounds.ts) add to their lexeme's postings as keyword.ts adds them.
   */
  search(lexemes: readonly string[], filter: SearchFilter | undefined, limit: number, compounds: readonly CompoundPosting[] = []): KeywordHit[] {
    const wanted = new Set(lexemes);
    const extra = this.#compoundRows(compounds.filter((c) => wanted.has(c.lexeme)));
    const terms: { docs: Int32Array; tfTitle: Uint16Array }[] = [];
    for (const l of wanted) {
      const k = this.lexemes.get(l);
      const from = k === undefined ? 0 : (this.start[k] as number);
      const to = k === undefined ? 0 : (this.start[k + 1] as number);
      const more = extra.get(l);
      if (more) terms.push(merged(this.docs.subarray(from, to), this.tfTitle.subarray(from, to), more));
      else if (k !== undefined) terms.push({ docs: this.docs.subarray(from, to), tfTitle: this.tfTitle.subarray(from, to) });
    }
    if (terms.length === 0) return [];
    const size = this.table.size;
    const lengths = this.lengths;
    // Per control, when filtered: 1 admitted, 0 not (computed once per query, over every control).
    let admitted: Uint8Array | undefined;
    let n = size;
    if (filter) {
      const a = this.table.admitted(filter);
      admitted = a.rows;
      n = a.count;
    }
    // The controls holding any term, in the order first met; per control its running score and
    // the length part of BM25's denominator, the same for every term. Reused by every search
    // (they run one at a time) and cleared where this one wrote: no megabytes allocated per query.
    const { matched, scores, lengthNorm, seen } = (this.#scratch ??= {
      matched: new Int32Array(size),
      scores: new Float64Array(size),
      lengthNorm: new Float64Array(size),
      seen: new Uint8Array(size),
    });
    let m = 0;
    try {
      const df = new Float64Array(terms.length);
      let total = 0;
      for (let k = 0; k < terms.length; k++) {
        const postings = (terms[k] as { docs: Int32Array }).docs;
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
        const { docs: postings, tfTitle } = terms[k] as { docs: Int32Array; tfTitle: Uint16Array };
        for (let j = 0; j < postings.length; j++) {
          const doc = postings[j] as number;
          if (admitted !== undefined && admitted[doc] === 0) continue;
          const packed = tfTitle[j] as number;
          const tf = packed >> 1;
          scores[doc] = (scores[doc] as number) + idf * ((tf * (K1 + 1)) / (tf + (lengthNorm[doc] as number))) * ((packed & 1) !== 0 ? TITLE_BOOST : 1);
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
      return top.sorted().map(({ row, score }) => ({ ...this.table.row(row), score }) as KeywordHit);
    } finally {
      for (let i = 0; i < m; i++) {
        const doc = matched[i] as number;
        seen[doc] = 0;
        scores[doc] = 0;
      }
    }
  }

  /** The compounds' rows by lexeme (a pass over the ids: compounds are few, and rare in queries). */
  #compoundRows(compounds: readonly CompoundPosting[]): Map<string, Map<number, { tf: number; title: boolean }>> {
    const out = new Map<string, Map<number, { tf: number; title: boolean }>>();
    if (compounds.length === 0) return out;
    const byId = new Map<string, CompoundPosting[]>();
    for (const c of compounds) byId.set(c.control_id, [...(byId.get(c.control_id) ?? []), c]);
    for (let row = 0; row < this.table.size; row++) {
      for (const c of byId.get(this.table.controlId(row)) ?? []) {
        let rows = out.get(c.lexeme);
        if (!rows) out.set(c.lexeme, (rows = new Map()));
        const had = rows.get(row);
        rows.set(row, { tf: (had?.tf ?? 0) + c.tf, title: (had?.title ?? false) || c.title });
      }
    }
    return out;
  }
}

/** A lexeme's postings with compound occurrences added: tf summed, title when either is; rows in order. */
function merged(docs: Int32Array, tfTitle: Uint16Array, more: ReadonlyMap<number, { tf: number; title: boolean }>): { docs: Int32Array; tfTitle: Uint16Array } {
  const add = new Map(more);
  const outDocs: number[] = [];
  const outTf: number[] = [];
  for (let j = 0; j < docs.length; j++) {
    const doc = docs[j] as number;
    const packed = tfTitle[j] as number;
    const x = add.get(doc);
    add.delete(doc);
    outDocs.push(doc);
    outTf.push(x ? Math.min((packed >> 1) + x.tf, 32767) * 2 + ((packed & 1) !== 0 || x.title ? 1 : 0) : packed);
  }
  for (const [doc, x] of add) {
    outDocs.push(doc);
    outTf.push(Math.min(x.tf, 32767) * 2 + (x.title ? 1 : 0));
  }
  return { docs: Int32Array.from(outDocs), tfTitle: Uint16Array.from(outTf) };
}

const EMPTY_CHUNK = { lex: new Int32Array(0), tft: new Uint16Array(0) };

/**
 * Two words of a query written as one: adjacent words joined ("back up" → backup, "log in" →
 * login, "set up" → setup, "e mail" → email), in reading order. Catalogues write such compounds
 * either way; a joined form no control uses matches nothing, so adding them to the query's OR of
 * words costs nothing where they do not apply. Only runs of letters are joined (not ids or
 * numbers), and only when one of the two is short enough to be the particle of a phrasal
 * verb or a prefix (at most four letters).
 */
export function joinedPairs(q: string): string[] {
  const words = q.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const out: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const a = words[i - 1] as string;
    const b = words[i] as string;
    if (!/^\p{L}+$/u.test(a) || !/^\p{L}+$/u.test(b)) continue;
    if (Math.min(a.length, b.length) > 4) continue;
    out.push(a + b);
  }
  return out;
}

/**
 * The query's words as the `english` configuration stems them (a prepared statement: planned
 * once per connection), the lexemes of its joined pairs (joinedPairs) that are not among them,
 * and, in the same statement, the stems of the heads of its compound candidates (compounds.ts:
 * every split of a lexeme of letters before a particle), so that settling compounds costs no
 * second statement.
 */
export async function queryLexemes(client: pg.ClientBase, q: string): Promise<{ lexemes: string[]; joined: string[]; headStems: HeadStems }> {
  const r = await client.query<{ lexemes: string[]; joined: string[]; heads: Record<string, string[] | null> }>({
    name: 'nfr-query-lexemes-joined-heads',
    text: `select array(select distinct lexeme from unnest(tsvector_to_array(to_tsvector('english', $1))) as lexeme order by 1) as lexemes,
                  array(select distinct lexeme from unnest(tsvector_to_array(to_tsvector('english', $2))) as lexeme order by 1) as joined,
                  coalesce((select json_object_agg(h.head, (select array_agg(x) from unnest(tsvector_to_array(to_tsvector('english', h.head))) x))
                              from (select distinct left(w, -length(p)) as head
                                      from unnest(tsvector_to_array(to_tsvector('english', $1)) || tsvector_to_array(to_tsvector('english', $2))) w,
                                           unnest($3::text[]) p
                                     where w ~ '^[a-z]+$' and length(w) >= length(p) + 2 and right(w, length(p)) = p) h), '{}') as heads`,
    values: [q, joinedPairs(q).join(' '), [...PARTICLES]],
  });
  const row = r.rows[0] ?? { lexemes: [], joined: [], heads: {} };
  const own = new Set(row.lexemes);
  return { lexemes: row.lexemes, joined: row.joined.filter((l) => !own.has(l)), headStems: new Map(Object.entries(row.heads)) };
}

/**
 * The server's resident keyword index, rebuilt when `signature()` changes. `load` runs with a
 * client of the caller's choosing (the server's pool). The index claims its size from `budget`
 * (NFR_INDEX_MEMORY_MB, shared with the embedded index's generation) before it is built; when it
 * does not fit, the promise rejects with ResidentDoesNotFit (kept until the data changes, so the
 * size is not measured again on every search) and search ranks keywords in PostgreSQL.
 */
export function residentKeywords(signature: () => Promise<string>, withClient: <T>(fn: (c: pg.ClientBase) => Promise<T>) => Promise<T>, budget?: ResidentBudget): () => Promise<ResidentKeywordIndex> {
  let held: { signature: string; index: Promise<ResidentKeywordIndex> } | undefined;
  // One build at a time: a rebuild waits for the build before it, so two never hold their
  // transient memory together.
  let building: Promise<unknown> = Promise.resolve();
  return async () => {
    const current = await signature();
    if (held?.signature !== current) {
      const fits = (bytes: { steady: number; building: number }) =>
        budget?.claim('keywords', bytes.building, 'the keyword rankings', 'keyword ranking runs in PostgreSQL, slower');
      const index = building.then(() =>
        withClient(async (c) => {
          const built = await ResidentKeywordIndex.load(c, fits);
          // Built: what it holds from now on, rather than what building it took.
          budget?.claim('keywords', built.bytes, 'the keyword rankings', 'keyword ranking runs in PostgreSQL, slower');
          return built;
        }),
      );
      building = index.catch(() => {});
      held = { signature: current, index };
      index.catch((err: unknown) => {
        if (held?.index === index && !(err instanceof ResidentDoesNotFit)) held = undefined;
      });
    }
    return held.index;
  };
}
