/**
 * Compounds a catalogue writes one way and a question another: "log on" and "logon", "log out"
 * and "logout", "back up" and "backup". keyword-resident.ts joinedPairs already joins a query's
 * adjacent words (a joined form no control uses matches nothing); this file settles the other
 * directions against the controls' own vocabulary, the lexemes of feature preparation's vectors:
 *
 *   documents  a control that writes the split form ("log on", "log-on") of a compound other
 *              controls write as one word ("logon") holds that word too, as often and in the same
 *              field (title or description) as it writes the split form. So "logon" finds AC-8
 *              ("before users log on") beside AC-7 ("invalid logon attempts"), and so does "log on".
 *   query      a query word no control uses that is a word the controls use plus a particle
 *              ("logins": log + in) also asks for that word (log).
 *
 * Only compounds of a word and an adverbial particle (PARTICLES: the closed class of English
 * phrasal verbs, back up, log in, set up, shut down, roll back) are split or joined; the head must
 * be a word of at least two letters that is not a stop word.
 *
 * The vocabulary is the lexemes of the current controls' vectors: the server's resident postings
 * hold exactly those, and the CLI asks PostgreSQL (sqlVocabulary) for the same. Where a control
 * writes a compound split is read from its text by one statement both use, so the CLI and the
 * server agree. Queries without a candidate (a lexeme of letters ending in a particle) cost nothing.
 */
import type pg from 'pg';

/** Adverbial particles of English phrasal verbs (closed class), longest first. */
export const PARTICLES = ['through', 'down', 'back', 'over', 'away', 'off', 'out', 'up', 'in', 'on'] as const;

/** A compound a control writes split: `tf` occurrences, in its title (`title`) or not. */
export interface CompoundPosting {
  readonly control_id: string;
  readonly lexeme: string;
  readonly tf: number;
  readonly title: boolean;
}

export interface QueryCompounds {
  /** Heads of query words no control uses (logins → log), to add to the query's lexemes. */
  readonly heads: string[];
  /** Controls that write a compound of the query split (AC-8: "log on" for logon). */
  readonly postings: CompoundPosting[];
  /** Compounds of the query the controls write as one word, as head and particle. */
  readonly known: { readonly compound: string; readonly head: string; readonly particle: string }[];
}

/** The (compound, particle, head) splits of `lexemes` worth a look: letters only, a head of two letters or more. */
export function compoundCandidates(lexemes: readonly string[]): { compound: string; particle: string; head: string }[] {
  const out: { compound: string; particle: string; head: string }[] = [];
  for (const compound of new Set(lexemes)) {
    if (!/^[a-z]+$/.test(compound)) continue;
    const particle = PARTICLES.find((p) => compound.length >= p.length + 2 && compound.endsWith(p));
    if (particle) out.push({ compound, particle, head: compound.slice(0, -particle.length) });
  }
  return out;
}

const NONE: QueryCompounds = { heads: [], postings: [], known: [] };

/** Heads as the english configuration stems them (null: a stop word), as queryLexemes returns them with the query's lexemes. */
export type HeadStems = ReadonlyMap<string, readonly string[] | null>;

/** Which of `lexemes` some current control's vector holds: the controls' vocabulary. */
export type Vocabulary = (lexemes: readonly string[]) => Promise<ReadonlySet<string>>;

/**
 * The vocabulary in PostgreSQL (the CLI): current controls' vectors, feature preparation's
 * through its GIN index or computed for a control not enriched yet, as keyword.ts reads them; the
 * server asks its resident postings instead (the same lexemes, without a query).
 */
export function sqlVocabulary(client: pg.ClientBase): Vocabulary {
  return async (lexemes) => {
    const r = await client.query<{ lexeme: string }>({
      name: 'nfr-vocabulary',
      text: `with unenriched as materialized (
               -- Controls not enriched yet (read once, and only when a lexeme is not found enriched).
               select v.title, v.description from src_controls_ver_control v
                where v.tx_to is null and not exists (select 1 from ai_controls_feature_prep p where p.control_id = v.control_id and p.text_hash = v.text_hash)
             )
             select c as lexeme from unnest($1::text[]) c
              where exists (select 1 from ai_controls_feature_prep p
                              join src_controls_ver_control v on v.control_id = p.control_id and v.text_hash = p.text_hash and v.tx_to is null
                             where p.search_vector @@ to_tsquery('simple', quote_literal(c)))
                 or exists (select 1 from unenriched u
                             where (setweight(to_tsvector('english', u.title), 'A') || setweight(to_tsvector('english', coalesce(u.description, '')), 'B'))
                                   @@ to_tsquery('simple', quote_literal(c)))`,
      values: [[...new Set(lexemes)]],
    });
    return new Set(r.rows.map((x) => x.lexeme));
  };
}

/**
 * The query's compounds settled against the controls' vocabulary (see the file comment).
 * `lexemes` are the query's own lexemes and its joined pairs, as queryLexemes returns them, with
 * `stems` of their candidates' heads. Costs a statement that reads no table (the heads stemmed)
 * when the query holds a candidate whose head `stems` lacks, the
 * vocabulary's answer, and a statement reading the text of the controls that hold the head when
 * a compound of the query is one the controls write as one word.
 */
export async function queryCompounds(client: pg.ClientBase, lexemes: readonly string[], vocabulary: Vocabulary, stems: HeadStems = new Map()): Promise<QueryCompounds> {
  const candidates = compoundCandidates(lexemes);
  if (candidates.length === 0) return NONE;
  // The heads as the english configuration stems them; none for a stop word. Usually stemmed
  // already, with the query (queryLexemes).
  const headWords = [...new Set(candidates.map((c) => c.head))];
  const rows = headWords.every((h) => stems.has(h))
    ? headWords.map((head) => ({ head, lexemes: stems.get(head) ?? null }))
    : (
        await client.query<{ head: string; lexemes: string[] | null }>({
          name: 'nfr-compound-heads',
          text: `select h as head, (select array_agg(l) from unnest(tsvector_to_array(to_tsvector('english', h))) l) as lexemes from unnest($1::text[]) h`,
          values: [headWords],
        })
      ).rows;
  const headLexeme = new Map(rows.flatMap((r) => (r.lexemes?.length === 1 ? [[r.head, r.lexemes[0] as string] as const] : [])));
  const withHeads = candidates.flatMap((c) => {
    const lexeme = headLexeme.get(c.head);
    return lexeme === undefined ? [] : [{ ...c, headLexeme: lexeme }];
  });
  if (withHeads.length === 0) return NONE;
  const known = await vocabulary([...withHeads.map((c) => c.compound), ...withHeads.map((c) => c.headLexeme)]);
  const own = new Set(lexemes);
  const heads = [...new Set(withHeads.filter((c) => !known.has(c.compound) && known.has(c.headLexeme) && !own.has(c.headLexeme)).map((c) => c.headLexeme))];
  const split = withHeads.filter((c) => known.has(c.compound) && known.has(c.headLexeme));
  if (split.length === 0) return { heads, postings: [], known: [] };
  const r = await client.query<{ control_id: string; lexeme: string; tf: number; title: boolean }>({
    name: 'nfr-compound-postings',
    text: `with split as (
             select s.compound, s.head_lexeme, '\\m' || s.head || '[[:space:]-]+' || s.particle || '\\M' as pattern
               from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as s(compound, head, particle, head_lexeme)
           ), holders as materialized (
             -- Enriched controls through the GIN index on their vectors, then those not enriched yet.
             select s.compound, s.pattern, v.control_id, v.title, coalesce(v.description, '') as description
               from split s
               join ai_controls_feature_prep p on p.search_vector @@ to_tsquery('simple', quote_literal(s.head_lexeme))
               join src_controls_ver_control v on v.control_id = p.control_id and v.text_hash = p.text_hash and v.tx_to is null
             union all
             select s.compound, s.pattern, v.control_id, v.title, coalesce(v.description, '') as description
               from split s
               join src_controls_ver_control v on v.tx_to is null
              where not exists (select 1 from ai_controls_feature_prep p where p.control_id = v.control_id and p.text_hash = v.text_hash)
                and to_tsvector('english', v.title || ' ' || coalesce(v.description, '')) @@ to_tsquery('simple', quote_literal(s.head_lexeme))
           )
           select h.control_id, h.compound as lexeme,
                  ((select count(*) from regexp_matches(h.title, h.pattern, 'gi')) + (select count(*) from regexp_matches(h.description, h.pattern, 'gi')))::int as tf,
                  h.title ~* h.pattern as title
             from holders h
            where h.title ~* h.pattern or h.description ~* h.pattern
            order by 2, 1`,
    values: [split.map((c) => c.compound), split.map((c) => c.head), split.map((c) => c.particle), split.map((c) => c.headLexeme)],
  });
  return {
    heads,
    postings: r.rows.map((x) => ({ control_id: x.control_id, lexeme: x.lexeme, tf: Number(x.tf), title: x.title })),
    known: split.map(({ compound, head, particle }) => ({ compound, head, particle })),
  };
}

/**
 * The query with the split forms of `known` compounds written as the controls write them ("log
 * on" → logon): the pair then means the compound alone, not also its head ("log", as in audit
 * logs). Unchanged when it holds none.
 */
export function joinKnownCompounds(q: string, known: QueryCompounds['known']): string {
  let out = q;
  for (const k of known) out = out.replace(new RegExp(`\\b(${k.head})[\\s-]+(${k.particle})\\b`, 'gi'), '$1$2');
  return out;
}
