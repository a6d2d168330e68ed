/**
 * One entity's changes between two states, in a form both ways of computing them produce:
 * counts per kind of change, and a page of ids (ordered by id, byte order, so that a cursor means
 * the same whichever way the page was computed).
 */
import type { DiffChange } from './entities.js';
import type { z } from 'zod';
import type { attributeChangeSchema, changeCountsSchema, diffItemSchema } from '../shapes.js';

export type AttributeChange = z.infer<typeof attributeChangeSchema>;

export type DiffItem = z.infer<typeof diffItemSchema>;

export type ChangeCounts = z.infer<typeof changeCountsSchema>;

export interface PageRequest {
  /** Items with ids after this one (byte order). */
  readonly after: string | null;
  readonly change: DiffChange | null;
  readonly limit: number;
}

export interface EntityChanges {
  readonly counts: ChangeCounts;
  /** Up to limit + 1 items, so the caller knows whether there is more. */
  readonly items: DiffItem[];
}

type Attrs = Record<string, unknown>;

/**
 * The attributes that differ between two versions of one entity. Only attributes both sides have
 * are compared: across a schema change, a column one side lacks is the schema's difference, not
 * the data's.
 */
export function differingAttributes(snapshot: Attrs, to: Attrs): AttributeChange[] {
  const out: AttributeChange[] = [];
  for (const name of Object.keys(snapshot).sort()) {
    if (!(name in to)) continue;
    if (JSON.stringify(snapshot[name]) !== JSON.stringify(to[name])) out.push({ name, snapshot: snapshot[name] ?? null, to: to[name] ?? null });
  }
  return out;
}

/** Byte order of UTF-8, as PostgreSQL's "C" collation sorts. */
export function compareIds(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
