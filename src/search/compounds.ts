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
 * be a word of at least two letters that is not a stop word. "Vocabulary" is every lexeme of
 * feature preparation's vectors (looked up through their GIN index).
 *
 * One statement, run for queries that hold a candidate (a lexeme of letters ending in a
 * particle) and shared by the keyword ranking in PostgreSQL and the server's resident one, so the
 * CLI and the server agree by construction. It reads the text of the controls whose vector holds
 * the head (or that are not enriched yet) and counts the split form in title and description.
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

/**
 * The query's compounds settled against the controls' vocabulary (see the file comment).
 * `lexemes` are the query's own lexemes and its joined pairs, as queryLexemes returns them.
 */
export async function queryCompounds(client: pg.ClientBase, lexemes: readonly string[]): Promise<QueryCompounds> {
  const candidates = compoundCandidates(lexemes);
  if (candidates.length === 0) return NONE;
  const r = await client.query<{ kind: 'head' | 'known' | 'posting'; control_id: string | null; lexeme: string; tf: number; title: boolean }>({
    name: 'nfr-query-compounds',
    text: `with cand as (
             select c.compound, c.particle, c.head,
                    -- The head as the english configuration stems it; empty for a stop word.
                    (select string_agg(l, ' ') from unnest(tsvector_to_array(to_tsvector('english', c.head))) l) as head_lexeme
               from unnest($1::text[], $2::text[], $3::text[]) as c(compound, particle, head)
           ), known as (
             select cand.*,
                    exists (select 1 from ai_controls_feature_prep f where f.search_vector @@ to_tsquery('simple', quote_literal(cand.compound))) as compound_known,
                    cand.head_lexeme is not null and position(' ' in cand.head_lexeme) = 0
                      and exists (select 1 from ai_controls_feature_prep f where f.search_vector @@ to_tsquery('simple', quote_literal(cand.head_lexeme))) as head_known
               from cand
           ), split as (
             -- Compounds the controls write as one word: which controls write them split.
             select k.compound, k.head_lexeme, '\\m' || k.head || '[[:space:]-]+' || k.particle || '\\M' as pattern
               from known k where k.compound_known and k.head_known
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
           select 'head' as kind, null as control_id, head_lexeme as lexeme, 0 as tf, false as title
             from known where not compound_known and head_known
           union all
           select 'known', null, compound, 0, false from split
           union all
           select 'posting', h.control_id, h.compound,
                  ((select count(*) from regexp_matches(h.title, h.pattern, 'gi')) + (select count(*) from regexp_matches(h.description, h.pattern, 'gi')))::int,
                  h.title ~* h.pattern
             from holders h
            where h.title ~* h.pattern or h.description ~* h.pattern
           order by 1, 2, 3`,
    values: [candidates.map((c) => c.compound), candidates.map((c) => c.particle), candidates.map((c) => c.head)],
  });
  const own = new Set(lexemes);
  return {
    heads: [...new Set(r.rows.filter((x) => x.kind === 'head' && !own.has(x.lexeme)).map((x) => x.lexeme))],
    postings: r.rows.filter((x) => x.kind === 'posting').map((x) => ({ control_id: x.control_id as string, lexeme: x.lexeme, tf: Number(x.tf), title: x.title })),
    known: candidates.filter((c) => r.rows.some((x) => x.kind === 'known' && x.lexeme === c.compound)),
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
