/** Response schemas generated from zod schemas, in the form the response serializer and the OpenAPI document take. */
import { z } from 'zod';

type Json = Record<string, unknown>;

/** A property that may hold anything (zod's unknown): never required, as the value may be absent. */
const isAny = (schema: unknown) => typeof schema === 'object' && schema !== null && Object.keys(schema).every((k) => k === 'description');

/**
 * Marks every object schema inside `schema` open. Also drops what zod's OpenAPI 3.0 output has
 * that the response serializer's draft-7 check refuses (boolean exclusiveMinimum) or that only
 * states JavaScript's limits (±2^53-1 bounds), and requires no property that may hold anything.
 */
function open<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(open) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema as Json)) {
    if ((k === 'exclusiveMinimum' || k === 'exclusiveMaximum') && typeof v === 'boolean') continue;
    if ((k === 'minimum' || k === 'maximum') && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    if (k === 'readOnly') continue;
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, open(s)])) : open(v);
  }
  if (out.type === 'object' && (out.additionalProperties === undefined || out.additionalProperties === false)) out.additionalProperties = true;
  if (Array.isArray(out.required) && out.properties) {
    const props = out.properties as Json;
    out.required = (out.required as string[]).filter((p) => !isAny(props[p]));
    if ((out.required as string[]).length === 0) delete out.required;
  }
  return out as T;
}

/** The response schema of a zod schema: what the route writes, as clients read it. */
export function responseSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Json {
  return open(z.toJSONSchema(schema, { io, target: 'openapi-3.0', unrepresentable: 'any' }) as Json);
}
