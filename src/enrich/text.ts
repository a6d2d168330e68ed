/**
 * The text of a control that models and the index see, and its hash. Ingestion stores the hash
 * (src_controls_ver_control.text_hash); model outputs and index points are keyed by it, so a
 * control whose text did not change is never recomputed or re-embedded.
 */
import { createHash } from 'node:crypto';

/** Title and description, whitespace normalised: the exact text that is embedded. */
export function controlText(title: string, description: string | null | undefined): string {
  const clean = (s: string) => s.normalize('NFC').replace(/\s+/g, ' ').trim();
  const d = description ? clean(description) : '';
  return d ? `${clean(title)}\n${d}` : clean(title);
}

/** SHA-256 (hex) of the control text. */
export function textHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
