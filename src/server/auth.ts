/**
 * Bearer tokens with roles. Tokens are compared in constant time (every configured token is
 * compared, whatever matches first) and never logged; 401 means "who are you?", 403 "not allowed".
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { NfrError } from '../errors.js';

import type { ApiRole, ApiToken } from '../config.js';

export type Role = ApiRole;

/** Who presented a token: its name (API_TOKENS) and role. */
export interface Caller {
  readonly name: string;
  readonly role: Role;
}

const RANK: Record<Role, number> = { reader: 1, operator: 2, admin: 3 };

export interface TokenTable {
  readonly entries: readonly { readonly name: string; readonly role: Role; readonly digest: Buffer }[];
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function tokenTable(tokens: readonly ApiToken[]): TokenTable {
  return { entries: tokens.map((t) => ({ name: t.name, role: t.role, digest: digest(t.token) })) };
}

/** Who the request's bearer token is; throws 401 (UNAUTHORIZED) when missing or unknown. */
export function authenticate(table: TokenTable, header: string | undefined): Caller {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (table.entries.length === 0) throw new NfrError('UNAUTHORIZED', 'this server accepts no tokens: API_TOKENS is empty, so every route but /health is refused');
  if (!m?.[1]) throw new NfrError('UNAUTHORIZED', 'missing bearer token: send Authorization: Bearer <token>');
  const presented = digest(m[1]);
  let caller: Caller | undefined;
  for (const entry of table.entries) {
    // Equal-length digests make timingSafeEqual safe to call; no early exit on a match.
    if (timingSafeEqual(entry.digest, presented) && (caller === undefined || RANK[entry.role] > RANK[caller.role])) caller = { name: entry.name, role: entry.role };
  }
  if (!caller) throw new NfrError('UNAUTHORIZED', 'invalid bearer token');
  return caller;
}

/** Throws 403 (FORBIDDEN) unless `role` is at least `needed`. */
export function authorize(role: Role, needed: Role): void {
  if (RANK[role] < RANK[needed]) throw new NfrError('FORBIDDEN', `this needs the ${needed} role; your token has ${role}`);
}
