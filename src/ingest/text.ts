/**
 * The text of a control that models and the index see, and its hash. Ingestion stores the hash
 * (src_controls_ver_control.text_hash); model outputs and index points are keyed by it, so a
 * control whose text did not change is never recomputed or re-embedded.
 */
import * as crypto from 'node:crypto';

/** Title and description, whitespace normalised: the exact text that is embedded. */
export function controlText(title: string, description: string | null | undefined): string {
  const d = description ? clean(description) : '';
  return d ? `${clean(title)}\n${d}` : clean(title);
}

const NON_ASCII = /[^\x00-\x7f]/;
/** Whitespace that `clean` would change: any but a single space between words, or at either end. */
const UNCLEAN_SPACE = /[^\S ]| \s|^\s|\s$/;

/**
 * NFC, whitespace runs as one space, trimmed. ASCII is its own NFC form, and far cheaper to test
 * than to normalise; most texts are already clean, and testing that is cheaper than rebuilding
 * them (half of this function's cost on 200k controls).
 */
function clean(s: string): string {
  const n = NON_ASCII.test(s) ? s.normalize('NFC') : s;
  return UNCLEAN_SPACE.test(n) ? n.replace(/\s+/g, ' ').trim() : n;
}

/**
 * SHA-256 (hex) of the control text. The one-shot crypto.hash (Node ≥ 20.12) costs half of a
 * Hash object per call, which shows at 200k controls per file; older 20.x fall back.
 */
export const textHash: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');
