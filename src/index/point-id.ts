/**
 * Point ids: the UUIDv5 (RFC 9562 §5.5, SHA-1 name-based) of the control id under a fixed
 * namespace, so the same control always maps to the same point in every backend and every run,
 * and Qdrant (which only accepts unsigned integers or UUIDs as ids) can store it.
 */
import { createHash } from 'node:crypto';

/** Namespace of nfr control ids. Never change it: every existing index would become orphans. */
export const CONTROL_NAMESPACE = '3b0c1a0e-5f4e-5b6a-9d2c-6e6f72636f6e';

/** UUIDv5 of `name` in `namespace` (both as in RFC 9562; namespace in canonical text form). */
export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new TypeError(`not a UUID: ${namespace}`);
  const digest = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50; // version 5
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // RFC variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The point id of a control. */
export function pointId(controlId: string): string {
  return uuidV5(CONTROL_NAMESPACE, controlId);
}
