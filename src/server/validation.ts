/**
 * Request validation errors in the words of the person sending the request: what was wrong and
 * what to send instead ("query parameter limit: "abc" is not valid; send a whole number from 1
 * to 200"), instead of JSON-schema wording ("querystring/limit must match pattern …"). Fastify
 * calls schemaErrorFormatter for every route's params, querystring, body and headers; a schema
 * property's `description` says what to send (it is the OpenAPI document's description too).
 */
import type { FastifySchemaValidationError } from 'fastify/types/schema.js';

type Part = 'body' | 'querystring' | 'params' | 'headers' | string;

/** Ajv's error with `verbose` on: the schema that failed and the value it failed on. */
type VerboseError = FastifySchemaValidationError & { readonly parentSchema?: Record<string, unknown>; readonly data?: unknown };

const WHERE: Readonly<Record<string, string>> = { body: 'the JSON body', querystring: 'query parameter', params: 'path parameter', headers: 'header' };

/** One readable sentence (several joined with "; ") for the failed validation of a request `part`. */
export function describeValidation(errors: readonly FastifySchemaValidationError[], part: Part): string {
  return [...new Set(errors.map((e) => describeOne(e as VerboseError, part)))].join('; ');
}

/** Fastify's schemaErrorFormatter: the sentence as the error's message (answered 400 INVALID_INPUT). */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], part: string): Error {
  return new Error(describeValidation(errors, part));
}

function describeOne(e: VerboseError, part: Part): string {
  const params = (e.params ?? {}) as Record<string, unknown>;
  const field = fieldName(e.instancePath);
  const subject = subjectOf(part, field);
  const schema = e.parentSchema ?? {};
  const hint = typeof schema.description === 'string' ? schema.description : undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = String(params.additionalProperty);
      const known = Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {});
      const name = subjectOf(part, field ? `${field}.${extra}` : extra);
      return `${name} is not known${known.length > 0 ? `; send only ${known.join(', ')}` : part === 'body' ? '; send an empty body' : ''}`;
    }
    case 'required': {
      const missing = String(params.missingProperty);
      return `${subjectOf(part, field ? `${field}.${missing}` : missing)} is required${hintOf((schema.properties as Record<string, Record<string, unknown>> | undefined)?.[missing])}`;
    }
    case 'type':
      if (part === 'body' && field === '') return `the request body must be a JSON ${String(params.type)}`;
      return `${subject}${quotedValue(e.data)} is not valid; send ${hint ?? typeWords(String(params.type))}`;
    case 'enum': {
      const allowed = (params.allowedValues as unknown[] | undefined) ?? [];
      return `${subject}${quotedValue(e.data)} is not valid; send one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    case 'pattern':
      return `${subject}${quotedValue(e.data)} is not valid; send ${hint ?? patternWords(String(params.pattern))}`;
    case 'maxLength':
      return `${subject} is too long; send at most ${String(params.limit)} characters`;
    case 'minLength':
      return `${subject} is ${Number(params.limit) <= 1 ? 'empty' : 'too short'}; send at least ${String(params.limit)} character${Number(params.limit) === 1 ? '' : 's'}`;
    case 'maximum':
    case 'minimum':
    case 'exclusiveMaximum':
    case 'exclusiveMinimum':
      return `${subject}${quotedValue(e.data)} is out of range; send ${hint ?? `a number ${String(params.comparison)} ${String(params.limit)}`}`;
    case 'maxItems':
      return `${subject} has too many items; send at most ${String(params.limit)}`;
    case 'minItems':
      return `${subject} has too few items; send at least ${String(params.limit)}`;
    case 'format':
      return `${subject}${quotedValue(e.data)} is not valid; send ${hint ?? `a ${String(params.format)}`}`;
    default:
      return `${subject} is not valid${hint ? `; send ${hint}` : ''}`;
  }
}

/** `/limit` → limit, `/filters/0/name` → filters[0].name; '' for the whole part. */
function fieldName(instancePath: string | undefined): string {
  if (!instancePath) return '';
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((out, s) => (/^\d+$/.test(s) ? `${out}[${s}]` : out ? `${out}.${s}` : s), '');
}

function subjectOf(part: Part, field: string): string {
  if (part === 'body') return field ? `field ${field} of the JSON body` : 'the JSON body';
  const where = WHERE[part] ?? part;
  return field ? `${where} ${field}` : where;
}

function hintOf(schema: Record<string, unknown> | undefined): string {
  return typeof schema?.description === 'string' ? ` (${schema.description})` : '';
}

/** `: "abc"`, cut short; nothing for values that are not short scalars. */
function quotedValue(data: unknown): string {
  if (data === undefined || (typeof data === 'object' && data !== null)) return '';
  const text = JSON.stringify(data);
  return `: ${text.length > 40 ? `${text.slice(0, 37)}...` : text}`;
}

function typeWords(type: string): string {
  switch (type) {
    case 'boolean':
      return 'true or false';
    case 'integer':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'string':
      return 'text (in quotes)';
    case 'array':
      return 'a list ([...])';
    case 'object':
      return 'an object ({...})';
    default:
      return `a ${type}`;
  }
}

/** Patterns the routes use, in words; others are shown as they are. */
function patternWords(pattern: string): string {
  const digits = /^\^\[0-9\]\{1,(\d+)\}\$$/.exec(pattern);
  if (digits) return `a whole number of at most ${digits[1]} digits`;
  return `a value matching ${pattern}`;
}
