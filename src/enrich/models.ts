/**
 * The deterministic local models of an enrichment run, as pure functions of a control's text:
 * an extractive summary, keywords, the normalised text behind the full-text vector, and the
 * risk-theme ranking behind taxonomy mapping. Each has a name and a version that are stored
 * with its outputs; changing what a model computes means bumping its version, which makes the
 * next run recompute every control.
 */
import { chunks, isStopWord, tokens } from './tokens.js';

export const ENRICHMENT_MODEL = { name: 'nfr-extractive-summary', version: '1' } as const;
export const FEATURE_PREP_MODEL = { name: 'nfr-feature-prep', version: '1' } as const;
export const TAXONOMY_MODEL = { name: 'nfr-taxonomy-cosine', version: '1' } as const;

/** Longest summary, in characters (an ellipsis included). */
export const SUMMARY_MAX_CHARS = 200;
export const KEYWORD_COUNT = 8;

/**
 * Title plus the first sentence or clause of the description, cut at a word boundary. Control
 * descriptions lead with the requirement and list details after; the first clause is the gist.
 */
export function summarise(title: string, description: string | null): string {
  const clean = (s: string) => s.normalize('NFC').replace(/\s+/g, ' ').trim();
  const t = clean(title);
  const clauses = (description ? clean(description) : '')
    .split(/\s*[.;:!?](?:\s+|$)/)
    .map((c) => c.replace(/^(?:and|or)\s+/i, '').replace(/[\s,]+$/, ''))
    .filter((c) => c !== '');
  // The first clause that says something: at least three content words, so a clause that is
  // mostly a template placeholder ("Determine the [value]") is passed over.
  const first = clauses.find((c) => tokens(c).length >= 3) ?? clauses[0] ?? '';
  const text = first && first.toLowerCase() !== t.toLowerCase() ? (t ? `${t}: ${first}` : first) : t || first;
  return truncate(text, SUMMARY_MAX_CHARS);
}

function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  const cut = chars.slice(0, max - 1).join('');
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s.,;:]+$/, '')}…`;
}

/**
 * Top terms of the text: content words scored by sublinear frequency, doubled when they occur
 * in the title, reported in the surface form met first; a hyphenated compound counts as one
 * term ("multi-factor"). Ties break by first occurrence, so the result depends on the text alone.
 */
export function keywords(title: string, description: string | null, count = KEYWORD_COUNT): string[] {
  interface Term {
    surface: string;
    tf: number;
    inTitle: boolean;
    first: number;
  }
  const terms = new Map<string, Term>();
  let position = 0;
  const add = (surface: string, inTitle: boolean) => {
    const [tok] = tokens(surface.replace(/-/g, ''));
    // Single letters, numbers and stop words carry no topic; "e.g." and the like fall out here.
    if (tok === undefined || tok.length < 3 || /^\d+$/.test(tok)) return;
    const term = terms.get(tok);
    if (term) {
      term.tf++;
      term.inTitle ||= inTitle;
    } else terms.set(tok, { surface, tf: 1, inTitle, first: position });
    position++;
  };
  const visit = (text: string, inTitle: boolean) => {
    for (const chunk of chunks(text)) {
      const parts = chunk.split(/[-/]/);
      if (parts.length > 1 && chunk.includes('-') && !chunk.includes('/') && !parts.some(isStopWord)) add(chunk, inTitle);
      else for (const p of parts) add(p, inTitle);
    }
  };
  visit(title, true);
  if (description) visit(description, false);
  return [...terms.values()]
    .map((t) => ({ t, score: (1 + Math.log(t.tf)) * (t.inTitle ? 2 : 1) }))
    .sort((a, b) => b.score - a.score || a.t.first - b.t.first)
    .slice(0, count)
    .map(({ t }) => t.surface);
}

/**
 * The text full-text search sees: Unicode NFKC, lowercase, punctuation other than in-word
 * hyphens and apostrophes turned to spaces. The first line stays the title (PostgreSQL weighs
 * it higher in the tsvector).
 */
export function normaliseText(title: string, description: string | null): string {
  const norm = (s: string) =>
    s
      .normalize('NFKC')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}'-]+/gu, ' ')
      .replace(/(^|\s)['-]+|['-]+(?=\s|$)/g, '$1')
      .replace(/\s+/g, ' ')
      .trim();
  const t = norm(title);
  const d = description ? norm(description) : '';
  return d ? `${t}\n${d}` : t;
}

export interface Theme {
  readonly riskThemeId: string;
  readonly vector: Float32Array;
}

export interface ThemeScore {
  readonly riskThemeId: string;
  readonly score: number;
  readonly rank: number;
}

/** Themes proposed per control. */
export const TAXONOMY_TOP_K = 3;
/** Ranks after the first need at least this cosine… */
export const TAXONOMY_MIN_SCORE = 0.1;
/** …and at least this share of the best score, so weak runners-up are not proposed. */
export const TAXONOMY_MIN_RELATIVE = 0.5;

/**
 * The best-matching themes by cosine (vectors are unit length). The best theme is always kept,
 * so every control gets a mapping and the run knows it is done; runners-up must be good enough.
 * Ties break by theme id for determinism.
 */
export function rankThemes(vector: Float32Array, themes: readonly Theme[], k = TAXONOMY_TOP_K): ThemeScore[] {
  const scored = themes
    .map((t) => ({ riskThemeId: t.riskThemeId, score: dot(vector, t.vector) }))
    .sort((a, b) => b.score - a.score || (a.riskThemeId < b.riskThemeId ? -1 : a.riskThemeId > b.riskThemeId ? 1 : 0));
  const best = scored[0];
  if (best === undefined) return [];
  const kept = [best, ...scored.slice(1, k).filter((s) => s.score >= TAXONOMY_MIN_SCORE && s.score >= best.score * TAXONOMY_MIN_RELATIVE)];
  return kept.map((s, i) => ({ riskThemeId: s.riskThemeId, score: Math.fround(s.score), rank: i + 1 }));
}

/** Dot product; the cosine for unit vectors. */
export function dot(a: Float32Array, b: Float32Array): number {
  const n = Math.min(a.length, b.length);
  let s = 0;
  for (let i = 0; i < n; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}
