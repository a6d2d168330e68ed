/**
 * Text normalisation shared by the local embedder and the enrichment model: lowercase, Unicode
 * NFKD with combining marks stripped, a stop-word list, a small general synonym table and light
 * suffix stemming. Everything here is pure and table-driven so the same text yields the same
 * tokens on every machine and Node version (no locale-dependent APIs).
 */

/**
 * Function words plus boilerplate that appears in nearly every control of a catalogue
 * ("[organization-defined value]", "system", "organization") and so carries no signal.
 */
const STOP_WORDS = new Set(
  (
    'a an and are as at be been being but by can could do does for from had has have how i if in into is it its ' +
    'may might must no nor not of on or other our shall should so such than that the their them then there these ' +
    'they this those through to under upon us use used using via was we were what when where whether which while ' +
    'who whom will with within without would you your all any each every also only both either one two three ' +
    'including include includes e g ie i.e etc following defined value organization organizational organizations ' +
    'system systems define defines employ employs ensure ensures implement implements ' +
    // Verbs every requirement catalogue uses ("provide", "establish", "specified"); they say a
    // control exists, not what it is about, and without corpus statistics they would dominate.
    'provide provides provided support supports require requires required requirement requirements conduct ' +
    'conducts determine determines establish establishes established maintain maintains specified specify ' +
    'applicable appropriate associated related based perform performs performed capability capabilities ' +
    'mechanism mechanisms'
  ).split(/\s+/),
);

/**
 * General abbreviations of the risk and security domain, expanded to their words. Deliberately
 * small and generic: it maps how people write queries to how catalogues write controls.
 */
const SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  mfa: ['multifactor', 'authentication'],
  '2fa': ['multifactor', 'authentication'],
  sso: ['single', 'sign', 'on'],
  pii: ['personally', 'identifiable', 'information'],
  dr: ['disaster', 'recovery'],
  bcp: ['contingency', 'plan'],
  ir: ['incident', 'response'],
  siem: ['audit', 'log', 'monitoring'],
  dlp: ['data', 'loss', 'prevention'],
  admin: ['privileged'],
  admins: ['privileged'],
  administrator: ['privileged'],
  administrators: ['privileged'],
  logs: ['log'],
  logging: ['log'],
  backups: ['backup'],
  timeout: ['inactivity'],
  encrypt: ['cryptographic'],
  encryption: ['cryptographic'],
  encrypted: ['cryptographic'],
  patch: ['flaw', 'remediation'],
  patching: ['flaw', 'remediation'],
  vuln: ['vulnerability'],
  malware: ['malicious', 'code'],
  antivirus: ['malicious', 'code'],
  virus: ['malicious', 'code'],
  viruses: ['malicious', 'code'],
  firewall: ['boundary', 'protection'],
  firewalls: ['boundary', 'protection'],
  vulns: ['vulnerability'],
};

/** Suffix rules, longest first; each keeps a stem of at least `min` letters. */
const SUFFIXES: ReadonlyArray<readonly [suffix: string, replacement: string, min: number]> = [
  ['izations', 'iz', 4],
  ['ization', 'iz', 4],
  ['ational', 'at', 4],
  ['ations', '', 4],
  ['ators', '', 4],
  ['ator', '', 4],
  ['ates', '', 4],
  ['ated', '', 4],
  ['ate', '', 4],
  ['ation', '', 4],
  ['ments', '', 4],
  ['ment', '', 4],
  ['ities', '', 4],
  ['ity', '', 4],
  ['ings', '', 4],
  ['ing', '', 4],
  ['ies', 'y', 3],
  ['ied', 'y', 3],
  ['ed', '', 4],
  ['es', '', 4],
  ['ive', '', 4],
  ['ly', '', 4],
  ['s', '', 3],
];

/** A light, deterministic stemmer: strips one common suffix so plural/verb forms meet. */
export function stem(word: string): string {
  if (word.length <= 3 || /\d/.test(word)) return word;
  if (word.endsWith('ss') || word.endsWith('us') || word.endsWith('is')) return word;
  for (const [suffix, replacement, min] of SUFFIXES) {
    if (word.endsWith(suffix) && word.length - suffix.length >= min) {
      let s = word.slice(0, word.length - suffix.length) + replacement;
      // "logged" → "logg" → "log"; "auditing" → "audit".
      if (/([b-df-hj-np-tv-z])\1$/.test(s) && !/(ll|ss|ff|zz)$/.test(s)) s = s.slice(0, -1);
      // "authenticate"/"authentication" meet at "authent"; "retain"/"retention" do not, by design.
      if (s.endsWith('e') && s.length > 4) s = s.slice(0, -1);
      return s;
    }
  }
  if (word.endsWith('e') && word.length > 4) return word.slice(0, -1);
  return word;
}

/** Runs of letters and digits, possibly joined by hyphens or slashes (multi-factor, e-mail, 800-53). */
const CHUNK = /[\p{L}\p{N}]+(?:[-/][\p{L}\p{N}]+)*/gu;

/** Case- and accent-folded text (NFKD without combining marks, lowercase). */
export function fold(text: string): string {
  return text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

/** Folded chunks of the text in reading order (see CHUNK). */
export function chunks(text: string): string[] {
  return fold(text).match(CHUNK) ?? [];
}

export function isStopWord(word: string): boolean {
  return STOP_WORDS.has(word);
}

/** Lowercased words in reading order, before stop words or stemming; hyphen compounds joined too. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const chunk of chunks(text)) {
    const parts = chunk.split(/[-/]/);
    for (const p of parts) out.push(p);
    // A hyphenated compound also counts as its joined form so "multi-factor" meets "multifactor";
    // not when a part is a stop word ("organization-defined", "after-the-fact" are boilerplate).
    if (parts.length > 1 && chunk.includes('-') && !parts.some((p) => STOP_WORDS.has(p))) out.push(parts.join(''));
  }
  return out;
}

/** Content tokens: words with synonyms expanded, stop words dropped, stemmed. */
export function tokens(text: string): string[] {
  const out: string[] = [];
  for (const w of words(text)) {
    const expanded = SYNONYMS[w] ?? [w];
    for (const e of expanded) {
      if (e.length < 2 || STOP_WORDS.has(e)) continue;
      out.push(stem(e));
    }
  }
  return out;
}
