/**
 * A small OpenAPI 3.0 checker for request-shape tests: finds the operation of a method and path,
 * and validates query parameters, JSON bodies and responses against the document's schemas.
 * Supports the subset Qdrant's document uses: $ref, type, properties, required, items, anyOf,
 * oneOf, allOf, enum, nullable, additionalProperties, minimum/maximum, uint/uuid formats.
 */
type Schema = { [key: string]: unknown };

/** One part of a multipart/form-data request, as the checker sees it. */
export interface MultipartPart {
  readonly name: string;
  readonly filename?: string | undefined;
  readonly size: number;
}

export interface Operation {
  readonly method: string;
  readonly template: string;
  readonly operationId: string;
  readonly op: Schema;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class OpenApi {
  readonly #templates: { template: string; regex: RegExp; params: number }[];

  constructor(readonly doc: { paths: Record<string, Record<string, Schema>>; components: { schemas: Record<string, Schema> } }) {
    this.#templates = Object.keys(doc.paths)
      .map((template) => ({
        template,
        regex: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '([^/]+)')}$`),
        params: (template.match(/\{/g) ?? []).length,
      }))
      // A literal segment wins over a parameter: /collections/aliases is not a collection name.
      .sort((a, b) => a.params - b.params);
  }

  /** The operation for a method and a path (no query string), or undefined. */
  operation(method: string, pathname: string): Operation | undefined {
    for (const t of this.#templates) {
      const op = this.doc.paths[t.template]?.[method.toLowerCase()];
      if (op && t.regex.test(pathname)) return { method: method.toLowerCase(), template: t.template, operationId: String(op.operationId), op };
    }
    return undefined;
  }

  /**
   * Problems of a request: unknown operation, undeclared or invalid query params, invalid body.
   * `body` is the parsed JSON, or for multipart/form-data the parts that were sent.
   */
  checkRequest(method: string, url: string, body: unknown, mediaType = 'application/json'): { operation: Operation | undefined; problems: string[] } {
    const u = new URL(url, 'http://x');
    const operation = this.operation(method, u.pathname);
    if (!operation) return { operation, problems: [`${method} ${u.pathname}: no such operation in the API`] };
    const problems: string[] = [];
    const params = (operation.op.parameters ?? []) as Schema[];
    for (const [name, value] of u.searchParams) {
      const p = params.find((x) => x.name === name && x.in === 'query');
      if (!p) problems.push(`query parameter "${name}" is not declared for ${operation.operationId}`);
      else problems.push(...this.validate(p.schema as Schema, coerce(this.resolve(p.schema as Schema), value), `query.${name}`));
    }
    for (const p of params) if (p.required && p.in === 'query' && !u.searchParams.has(String(p.name))) problems.push(`required query parameter "${String(p.name)}" missing`);
    const rb = operation.op.requestBody as Schema | undefined;
    const content = (rb?.content ?? {}) as Record<string, Schema>;
    if (body === undefined) {
      if (rb?.required) problems.push(`${operation.operationId} requires a body`);
    } else if (!content[mediaType]) {
      problems.push(`${operation.operationId} takes no ${mediaType} body (it declares ${Object.keys(content).join(', ') || 'none'})`);
    } else if (mediaType === 'multipart/form-data') {
      problems.push(...this.#multipart(content[mediaType]?.schema as Schema, body as readonly MultipartPart[]));
    } else {
      problems.push(...this.validate(content[mediaType]?.schema as Schema, body, 'body'));
    }
    return { operation, problems: problems.map((p) => `${operation.operationId}: ${p}`) };
  }

  /** Problems of a response body against the operation's schema for that status and media type. */
  checkResponse(operation: Operation, status: number, body: unknown, mediaType = 'application/json'): string[] {
    const responses = operation.op.responses as Record<string, Schema>;
    const r = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
    const schema = (r?.content as Record<string, Schema> | undefined)?.[mediaType]?.schema as Schema | undefined;
    if (!schema) return [`${operation.operationId}: no ${mediaType} response declared for ${status}`];
    if (mediaType !== 'application/json') {
      const s = this.resolve(schema);
      return s.type === 'string' && s.format === 'binary' && Buffer.isBuffer(body) ? [] : [`${operation.operationId}: response ${status} is not the binary ${mediaType} the API declares`];
    }
    return this.validate(schema, body, `response ${status}`).map((p) => `${operation.operationId}: ${p}`);
  }

  /** Every part must be a declared property; `format: binary` ones must be files. */
  #multipart(schema: Schema, parts: readonly MultipartPart[]): string[] {
    const s = this.resolve(schema);
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const errs: string[] = [];
    for (const part of parts) {
      const prop = props[part.name];
      if (!prop) errs.push(`multipart part "${part.name}" is not declared`);
      else if (this.resolve(prop).format === 'binary' && part.filename === undefined) errs.push(`multipart part "${part.name}" must be a file (with a filename)`);
    }
    for (const r of (s.required ?? []) as string[]) if (!parts.some((p) => p.name === r)) errs.push(`multipart part "${r}" is required`);
    if (parts.length === 0) errs.push('multipart body has no parts');
    return errs;
  }

  resolve(schema: Schema): Schema {
    let s = schema;
    while (typeof s.$ref === 'string') {
      const name = s.$ref.replace('#/components/schemas/', '');
      const target = this.doc.components.schemas[name];
      if (!target) throw new Error(`unresolved $ref ${s.$ref}`);
      s = target;
    }
    return s;
  }

  /** Every problem of `value` against `schema`, with JSON paths. */
  validate(input: Schema, value: unknown, at: string): string[] {
    const s = this.resolve(input);
    if (value === null) return s.nullable === true ? [] : Array.isArray(s.anyOf) || Array.isArray(s.oneOf) ? this.#alternatives(s, value, at) : [`${at}: null is not allowed`];
    if (Array.isArray(s.allOf)) {
      const errs = (s.allOf as Schema[]).flatMap((x) => this.validate(x, value, at));
      if (errs.length) return errs;
    }
    if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
      const errs = this.#alternatives(s, value, at);
      if (errs.length) return errs;
    }
    // `{nullable: true}` alone (Qdrant's "or null" branch) accepts only null.
    if (s.nullable === true && Object.keys(s).every((k) => k === 'nullable' || k === 'description' || k === 'default')) return [`${at}: expected null`];
    if (Array.isArray(s.enum) && !s.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`];
    switch (s.type) {
      case undefined:
        return s.properties && isObject(value) ? this.#object(s, value, at) : [];
      case 'object':
        return isObject(value) ? this.#object(s, value, at) : [`${at}: expected an object, got ${typeOf(value)}`];
      case 'array':
        if (!Array.isArray(value)) return [`${at}: expected an array, got ${typeOf(value)}`];
        return s.items ? value.flatMap((v, i) => this.validate(s.items as Schema, v, `${at}[${i}]`)) : [];
      case 'string':
        if (typeof value !== 'string') return [`${at}: expected a string, got ${typeOf(value)}`];
        return s.format === 'uuid' && !UUID.test(value) ? [`${at}: "${value}" is not a UUID`] : [];
      case 'integer':
        if (typeof value !== 'number' || !Number.isInteger(value)) return [`${at}: expected an integer, got ${JSON.stringify(value)}`];
        return this.#range(s, value, at);
      case 'number':
        return typeof value === 'number' && Number.isFinite(value) ? this.#range(s, value, at) : [`${at}: expected a number, got ${JSON.stringify(value)}`];
      case 'boolean':
        return typeof value === 'boolean' ? [] : [`${at}: expected a boolean, got ${typeOf(value)}`];
      default:
        return [`${at}: unsupported schema type ${String(s.type)}`];
    }
  }

  #alternatives(s: Schema, value: unknown, at: string): string[] {
    const options = (s.anyOf ?? s.oneOf) as Schema[];
    const results = options.map((o) => this.validate(o, value, at));
    const passing = results.filter((r) => r.length === 0).length;
    if (s.oneOf && passing > 1 && value !== null) return [`${at}: matches ${passing} oneOf alternatives`];
    if (passing > 0) return [];
    const closest = results.reduce((a, b) => (b.length < a.length ? b : a));
    return [`${at}: matches none of ${options.length} alternatives; closest: ${closest.slice(0, 3).join('; ')}`];
  }

  #object(s: Schema, value: Record<string, unknown>, at: string): string[] {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const errs: string[] = [];
    for (const r of (s.required ?? []) as string[]) if (!(r in value)) errs.push(`${at}.${r}: required`);
    for (const [k, v] of Object.entries(value)) {
      if (props[k]) errs.push(...this.validate(props[k], v, `${at}.${k}`));
      else if (s.additionalProperties === false) errs.push(`${at}.${k}: unknown property`);
      else if (isObject(s.additionalProperties)) errs.push(...this.validate(s.additionalProperties as Schema, v, `${at}.${k}`));
    }
    return errs;
  }

  #range(s: Schema, value: number, at: string): string[] {
    const min = typeof s.minimum === 'number' ? s.minimum : typeof s.format === 'string' && s.format.startsWith('uint') ? 0 : undefined;
    if (min !== undefined && value < min) return [`${at}: ${value} is below ${min}`];
    if (typeof s.maximum === 'number' && value > s.maximum) return [`${at}: ${value} is above ${s.maximum}`];
    return [];
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Query strings are text; compare them with the declared type. */
function coerce(schema: Schema, value: string): unknown {
  if (schema.type === 'integer' || schema.type === 'number') return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (schema.type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  return value;
}
