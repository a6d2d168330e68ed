/**
 * The PostgreSQL side of search: filters as SQL, exact id matches, and keyword ranking.
 *
 * Keyword ranking is BM25 over the controls' full-text vectors: feature preparation's
 * `search_vector` (title weight A, description B) for the control's current text, or the same
 * vector computed on the fly for a control not enriched yet. `ts_rank` has no inverse document
 * frequency, so a question's common words ("system", "control") would outweigh its rare, telling
 * ones; BM25 weighs each query term by how few controls hold it, saturates repeated terms (k1) and
 * normalises by vector length (b; the average length is taken over the matching controls). A term
 * found in the title counts TITLE_BOOST times. Enriched controls are found through the GIN index
 * on feature preparation's vectors; only controls not enriched yet have theirs computed.
 *
 * The query's words are stemmed and stop-word-filtered by PostgreSQL's `english` configuration,
 * the same one the vectors were built with, and any of them may match (OR): a natural question
 * rarely has all its words in one control.
 */
import type pg from 'pg';
import type { SearchFilter } from '../index/types.js';
import type { CompoundPosting } from './compounds.js';

export const K1 = 1.2;
export const B = 0.75;
export const TITLE_BOOST = 2;

/** The filter as a SQL condition on the current version `v` (and its risk themes), with params from `$first`. */
export function filterSql(filter: SearchFilter | undefined, first: number): { sql: string; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  const add = (cond: (p: string) => string, value: unknown) => {
    params.push(value);
    conds.push(cond(`$${first + params.length - 1}`));
  };
  const list = (column: string, values: readonly string[] | undefined) => {
    if (values !== undefined && values.length > 0) add((p) => `v.${column} = any(${p}::text[])`, [...values]);
  };
  list('status', filter?.status);
  list('owning_function_id', filter?.owning_function_id);
  list('owning_location_id', filter?.owning_location_id);
  list('family_id', filter?.family_id);
  if (filter?.key_control !== undefined) add((p) => `v.key_control = ${p}::boolean`, filter.key_control);
  if (filter?.risk_theme_id !== undefined && filter.risk_theme_id.length > 0) {
    add((p) => `exists (select 1 from src_controls_rel_risk_theme t where t.control_id = v.control_id and t.tx_to is null and t.risk_theme_id = any(${p}::text[]))`, [...filter.risk_theme_id]);
  }
  return { sql: conds.length > 0 ? conds.join(' and ') : 'true', params };
}

/** A control as search shows it, read from its current version. */
export interface ControlRow {
  readonly control_id: string;
  readonly title: string;
  readonly status: string | null;
  readonly family_id: string | null;
  readonly key_control: boolean | null;
  readonly owning_function_id: string | null;
  readonly owning_location_id: string | null;
  readonly risk_theme_ids: string[];
}

const ROW_COLUMNS = `v.control_id, v.title, v.status, v.family_id, v.key_control, v.owning_function_id, v.owning_location_id,
  coalesce((select array_agg(t.risk_theme_id order by t.risk_theme_id) from src_controls_rel_risk_theme t
             where t.control_id = v.control_id and t.tx_to is null), '{}') as risk_theme_ids`;

/**
 * A query word without the punctuation around it: leading `( " ' [`, trailing `) " ' ] . : ! ?`,
 * except a `)` that closes a `(` of the word itself, which is part of ids such as AC-2(1).
 */
function trimToken(word: string): string {
  let t = word.replace(/^[("'[]+/, '');
  const count = (c: string) => t.split(c).length - 1;
  for (;;) {
    const last = t.at(-1);
    if (last === undefined || !')"\'].:!?'.includes(last)) return t;
    if (last === ')' && count('(') >= count(')')) return t;
    t = t.slice(0, -1);
  }
}

/** Ids that look like control ids (`AC-2`, `ac-2.1`, `CTRL-000123`) in a query, upper-cased. */
export function idTokens(q: string): string[] {
  const tokens = q.split(/[\s,;]+/).map(trimToken);
  return [...new Set(tokens.filter((t) => /^[A-Za-z][A-Za-z0-9]{0,15}-[0-9][A-Za-z0-9]*(?:[.(-][A-Za-z0-9]+\)?)*$/.test(t)).map((t) => t.toUpperCase()))];
}

/**
 * Id matches: the controls whose id equals one of `ids` (any case), then, with `prefix`, the
 * controls whose id starts with one of them (AC-2 finds AC-2.1, AC-2.12), in id order. The prefix
 * is compared as text (starts_with), not as a LIKE pattern: `_` is a character of control ids and
 * `%` is the user's, so neither may act as a wildcard.
 */
export async function idMatches(client: pg.ClientBase, ids: readonly string[], filter: SearchFilter | undefined, options: { prefix: boolean; limit: number }): Promise<ControlRow[]> {
  if (ids.length === 0) return [];
  const f = filterSql(filter, 3);
  const r = await client.query<ControlRow & { exact: boolean }>(
    `select ${ROW_COLUMNS}, upper(v.control_id) = any($1::text[]) as exact
       from src_controls_ver_control v
      where v.tx_to is null
        and (upper(v.control_id) = any($1::text[]) or ($2 and exists (select 1 from unnest($1::text[]) i where starts_with(upper(v.control_id), i))))
        and ${f.sql}
      order by upper(v.control_id) = any($1::text[]) desc, length(v.control_id), v.control_id
      limit ${Math.max(1, Math.floor(options.limit))}`,
    [ids.map((i) => i.toUpperCase()), options.prefix, ...f.params],
  );
  return r.rows;
}

/**
 * The current rows of `ids` (any order; ids that are not current controls are absent): what the
 * semantic ranking's hits look like in the live database now, rather than in the index payload.
 */
export async function currentRows(client: pg.ClientBase, ids: readonly string[]): Promise<ControlRow[]> {
  if (ids.length === 0) return [];
  const r = await client.query<ControlRow>(`select ${ROW_COLUMNS} from src_controls_ver_control v where v.tx_to is null and v.control_id = any($1::text[])`, [[...ids]]);
  return r.rows;
}

export interface KeywordHit extends ControlRow {
  readonly score: number;
}

/**
 * The `limit` best keyword matches for the query's `lexemes` (stemmed by the `english`
 * configuration: keyword-resident.ts queryLexemes) among current controls passing `filter`, best first.
 * `compounds` are compounds controls write split (compounds.ts): each counts as that many
 * occurrences of the lexeme in the control's vector, in the title when it is there.
 */
export async function keywordSearch(client: pg.ClientBase, lexemes: readonly string[], filter: SearchFilter | undefined, limit: number, compounds: readonly CompoundPosting[] = []): Promise<KeywordHit[]> {
  const f = filterSql(filter, 7);
  const r = await client.query<KeywordHit>(
    `with q as (
       select distinct lexeme from unnest($1::text[]) as lexeme
     ), tsq as (
       -- The lexemes are stemmed already: 'simple' takes them as they are.
       select to_tsquery('simple', coalesce(string_agg(quote_literal(lexeme), ' | '), '')) as query from q
     ), extra as (
       select e.control_id, e.lexeme, e.tf::float8 as tf, e.title
         from unnest($3::text[], $4::text[], $5::int[], $6::boolean[]) as e(control_id, lexeme, tf, title)
        where e.lexeme in (select lexeme from q)
     ), matched as materialized (
       -- Enriched controls: feature preparation's vector of the current text, through its GIN index.
       select v.control_id, p.search_vector as sv
         from ai_controls_feature_prep p
         join src_controls_ver_control v on v.control_id = p.control_id and v.text_hash = p.text_hash and v.tx_to is null
        where (p.search_vector @@ (select query from tsq) or p.control_id in (select control_id from extra)) and ${f.sql}
       union all
       -- Controls not enriched yet: the same vector, computed.
       select v.control_id, x.sv
         from src_controls_ver_control v
         cross join lateral (select setweight(to_tsvector('english', v.title), 'A') || setweight(to_tsvector('english', coalesce(v.description, '')), 'B') as sv) x
        where v.tx_to is null and ${f.sql}
          and not exists (select 1 from ai_controls_feature_prep p where p.control_id = v.control_id and p.text_hash = v.text_hash)
          and (x.sv @@ (select query from tsq) or v.control_id in (select control_id from extra))
     ), stats as (
       -- N over every current control the filter admits; the average length over the matches
       -- (reading every vector for it would cost more than the search).
       select (select count(*) from src_controls_ver_control v where v.tx_to is null and ${f.sql})::float8 as n,
              greatest((select avg(length(sv)) from matched), 1)::float8 as avgdl
     ), occurrences as (
       select m.control_id, length(m.sv)::float8 as dl, u.lexeme,
              coalesce(array_length(u.positions, 1), 1)::float8 as tf, 'A' = any(u.weights) as in_title
         from matched m cross join lateral unnest(m.sv) as u
        where u.lexeme in (select lexeme from q)
       union all
       select m.control_id, length(m.sv)::float8, e.lexeme, e.tf, e.title
         from matched m join extra e using (control_id)
     ), terms as (
       select control_id, dl, lexeme, sum(tf) as tf, bool_or(in_title) as in_title
         from occurrences group by control_id, dl, lexeme
     ), df as (
       select lexeme, count(*)::float8 as df from terms group by lexeme
     ), scored as (
       select t.control_id,
              sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
                  * (t.tf * ($2::float8 + 1)) / (t.tf + $2::float8 * (1 - ${B} + ${B} * t.dl / s.avgdl))
                  * case when t.in_title then ${TITLE_BOOST} else 1 end) as score
         from terms t join df using (lexeme) cross join stats s
        group by t.control_id
        order by score desc, t.control_id
        limit ${Math.max(1, Math.floor(limit))}
     )
     select ${ROW_COLUMNS}, s.score
       from scored s join src_controls_ver_control v on v.control_id = s.control_id and v.tx_to is null
      order by s.score desc, v.control_id`,
    [[...lexemes], K1, compounds.map((c) => c.control_id), compounds.map((c) => c.lexeme), compounds.map((c) => c.tf), compounds.map((c) => c.title), ...f.params],
  );
  return r.rows.map((row) => ({ ...row, score: Number(row.score) }));
}
