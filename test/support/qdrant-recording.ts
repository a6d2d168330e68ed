/**
 * A recording HTTP server for request-shape tests of the Qdrant backend. It is NOT Qdrant and
 * proves nothing about Qdrant's behaviour: it is a local node:http server that keeps just enough
 * in-memory state (collections with their points, aliases, snapshot files) to answer the way
 * Qdrant's published OpenAPI document (test/fixtures/qdrant-openapi-1.19.json) describes, and it
 * checks every request it receives (method, path template, query parameters, JSON or multipart
 * body) and every answer it gives against that document. Where the document is silent it mimics
 * what Qdrant's source does, and says so: point and info requests resolve aliases, deleting a
 * collection does not (and removes the aliases pointing at it), an alias cannot be named like a
 * collection, and an uploaded snapshot is kept among the target collection's snapshots. Its
 * snapshot files are JSON, not Qdrant's tar archives. Live round trips: qdrant-live.test.ts.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenApi, type MultipartPart, type Operation } from './openapi.js';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  /** Parsed JSON, or the parts of a multipart body (names and sizes, not bytes). */
  readonly body: unknown;
  readonly operationId: string | undefined;
  readonly problems: string[];
}

export interface StoredPoint {
  id: string;
  vector: number[];
  payload: Record<string, unknown>;
}

export interface FakeCollection {
  size: number;
  distance: string;
  metadata: Record<string, unknown> | null;
  points: Map<string, StoredPoint>;
}

interface Part extends MultipartPart {
  readonly data: Buffer;
}

/** What the fake's snapshot files hold; the first line says what they are. */
const SNAPSHOT_MAGIC = 'nfr-recording-server snapshot (not a Qdrant snapshot)\n';

export class RecordingServer {
  readonly requests: Recorded[] = [];
  readonly responseProblems: string[] = [];
  readonly collections = new Map<string, FakeCollection>();
  readonly aliases = new Map<string, string>();
  /** Snapshot files by collection name; like Qdrant's snapshots directory they outlive the collection. */
  readonly snapshotFiles = new Map<string, Map<string, Buffer>>();
  /** Page size the fake scroll honours (the backend asks for 1000; tests lower it to see paging). */
  scrollPageCap = Infinity;
  /** The next request (of that operation, when named) fails with this answer. */
  failNext: { status: number; error: string; operationId?: string } | undefined;
  /** The next upload arrives with one byte flipped, as if damaged on the way. */
  corruptNextUpload = false;
  #server: Server | undefined;
  #snapshotCounter = 0;
  url = '';

  constructor(private readonly api: OpenApi) {}

  /** Forgets everything, as if the server were new. */
  reset(): void {
    this.collections.clear();
    this.aliases.clear();
    this.snapshotFiles.clear();
  }

  /** The collection a name (alias or collection) resolves to. */
  resolve(name: string): FakeCollection | undefined {
    return this.collections.get(this.aliases.get(name) ?? name);
  }

  /** Every snapshot file the server holds, as `collection/name`. */
  allSnapshotFiles(): string[] {
    return [...this.snapshotFiles].flatMap(([c, files]) => [...files.keys()].map((f) => `${c}/${f}`));
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const type = String(req.headers['content-type'] ?? '');
    const problems: string[] = [];
    let body: unknown;
    let parts: Part[] | undefined;
    let mediaType = 'application/json';
    if (type.startsWith('multipart/form-data')) {
      mediaType = 'multipart/form-data';
      parts = parseMultipart(raw, type, problems);
      body = parts.map(({ name, filename, size }) => ({ name, filename, size }));
      if (req.headers['content-length'] !== String(raw.length)) problems.push(`${req.method} ${req.url}: content-length ${req.headers['content-length']} for ${raw.length} bytes`);
    } else if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        problems.push(`${req.method} ${req.url}: body is not JSON`);
      }
      if (!type.includes('application/json')) problems.push(`${req.method} ${req.url}: content-type ${type}`);
    }
    const check = this.api.checkRequest(req.method ?? 'GET', req.url ?? '/', body, mediaType);
    problems.push(...check.problems);
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, operationId: check.operation?.operationId, problems });
    const answer = check.operation ? this.#answer(check.operation, new URL(req.url ?? '/', this.url), body, parts) : ([404, 'no such operation'] as const);
    const [status, result] = answer;
    if (Buffer.isBuffer(result)) {
      if (check.operation) this.responseProblems.push(...this.api.checkResponse(check.operation, status, result, 'application/octet-stream'));
      res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': result.length });
      // In pieces, so the client has to stream it.
      for (let i = 0; i < result.length; i += 4096) res.write(result.subarray(i, i + 4096));
      res.end();
      return;
    }
    const envelope = status === 200 ? { time: 0.001, status: 'ok', result } : { time: 0.001, status: { error: String(result) } };
    if (check.operation) this.responseProblems.push(...this.api.checkResponse(check.operation, status, envelope));
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(envelope));
  }

  #answer(op: Operation, url: URL, body: unknown, parts: Part[] | undefined): readonly [number, unknown] {
    if (this.failNext && (this.failNext.operationId === undefined || this.failNext.operationId === op.operationId)) {
      const f = this.failNext;
      this.failNext = undefined;
      return [f.status, f.error];
    }
    const segments = url.pathname.split('/').map(decodeURIComponent);
    const name = segments[2] ?? '';
    const b = (body ?? {}) as Record<string, any>;
    const col = this.resolve(name);
    const real = this.aliases.get(name) ?? name;
    const missing = [404, `Not found: Collection \`${name}\` doesn't exist!`] as const;
    switch (op.operationId) {
      case 'get_collections':
        return [200, { collections: [...this.collections.keys()].map((n) => ({ name: n })) }];
      case 'collection_exists':
        return [200, { exists: col !== undefined }];
      case 'create_collection':
        if (this.collections.has(name)) return [409, `Wrong input: Collection \`${name}\` already exists!`];
        if (this.aliases.has(name)) return [400, `Wrong input: Can't create collection with name ${name}. Alias with the same name already exists`];
        this.collections.set(name, { size: b.vectors.size, distance: b.vectors.distance, metadata: b.metadata ?? null, points: new Map() });
        return [200, true];
      case 'delete_collection': {
        // Qdrant does not resolve aliases here, and drops the aliases of the deleted collection.
        const existed = this.collections.delete(name);
        for (const [alias, target] of this.aliases) if (target === name) this.aliases.delete(alias);
        return [200, existed];
      }
      case 'update_collection':
        if (!col) return missing;
        col.metadata = { ...(col.metadata ?? {}), ...(b.metadata ?? {}) };
        return [200, true];
      case 'get_collection':
        if (!col) return missing;
        return [200, collectionInfo(col)];
      case 'upsert_points':
        if (!col) return missing;
        for (const p of b.points as StoredPoint[]) col.points.set(String(p.id), { id: String(p.id), vector: p.vector, payload: p.payload });
        return [200, { operation_id: 1, status: 'completed' }];
      case 'delete_points':
        if (!col) return missing;
        for (const id of b.points as string[]) col.points.delete(String(id));
        return [200, { operation_id: 2, status: 'completed' }];
      case 'count_points':
        return col ? [200, { count: col.points.size }] : missing;
      case 'scroll_points': {
        if (!col) return missing;
        const all = [...col.points.values()].sort((x, y) => x.id.localeCompare(y.id));
        const start = b.offset ? all.findIndex((p) => p.id === b.offset) : 0;
        const size = Math.min(b.limit ?? 10, this.scrollPageCap);
        const page = all.slice(start, start + size);
        const fields = Array.isArray(b.with_payload) ? (b.with_payload as string[]) : undefined;
        return [200, {
          points: page.map((p) => ({
            id: p.id,
            payload: fields ? Object.fromEntries(fields.filter((f) => f in p.payload).map((f) => [f, p.payload[f]])) : p.payload,
            ...(b.with_vector === true ? { vector: p.vector } : {}),
          })),
          next_page_offset: all[start + size]?.id ?? null,
        }];
      }
      case 'query_points': {
        if (!col) return missing;
        const q = b.query as number[];
        const scored = [...col.points.values()].map((p) => ({ p, score: p.vector.reduce((s, v, i) => s + v * (q[i] ?? 0), 0) })).sort((x, y) => y.score - x.score);
        return [200, { points: scored.slice(0, b.limit ?? 10).map(({ p, score }) => ({ id: p.id, version: 1, score, payload: p.payload })) }];
      }
      case 'create_snapshot': {
        if (!col) return missing;
        const data = Buffer.concat([Buffer.from(SNAPSHOT_MAGIC), Buffer.from(JSON.stringify({ size: col.size, distance: col.distance, metadata: col.metadata, points: [...col.points.values()] }))]);
        const file = `${real}-${++this.#snapshotCounter}-2026-01-01-00-00-00.snapshot`;
        this.#files(real).set(file, data);
        return [200, describeSnapshot(file, data)];
      }
      case 'list_snapshots':
        if (!col) return missing;
        return [200, [...this.#files(real)].map(([file, data]) => describeSnapshot(file, data))];
      case 'get_snapshot': {
        if (!col) return missing;
        const data = this.#files(real).get(segments[4] ?? '');
        return data ? [200, data] : [404, `Not found: Snapshot ${segments[4]} not found`];
      }
      case 'delete_snapshot': {
        if (!col) return missing;
        const deleted = this.#files(real).delete(segments[4] ?? '');
        return deleted ? [200, true] : [404, `Not found: Snapshot ${segments[4]} not found`];
      }
      case 'recover_from_uploaded_snapshot':
        return this.#recoverUpload(name, url, parts ?? []);
      case 'update_aliases':
        return this.#updateAliases(b.actions as Record<string, any>[]);
      case 'get_collections_aliases':
        return [200, { aliases: [...this.aliases].map(([alias_name, collection_name]) => ({ alias_name, collection_name })) }];
      case 'get_collection_aliases':
        return [200, { aliases: [...this.aliases].filter(([, c]) => c === name).map(([alias_name, collection_name]) => ({ alias_name, collection_name })) }];
      default:
        return [400, `the recording server does not answer ${op.operationId}`];
    }
  }

  /** As Qdrant: verify the checksum, keep the file among the collection's snapshots, recover. */
  #recoverUpload(name: string, url: URL, parts: Part[]): readonly [number, unknown] {
    const part = parts.find((p) => p.name === 'snapshot');
    if (!part) return [400, 'Bad request: no snapshot part'];
    let data = part.data;
    if (this.corruptNextUpload) {
      this.corruptNextUpload = false;
      data = Buffer.from(data);
      data[data.length - 2] = (data[data.length - 2] ?? 0) ^ 0xff;
    }
    const sha = createHash('sha256').update(data).digest('hex');
    const expected = url.searchParams.get('checksum');
    if (expected && expected !== sha) return [400, `Bad request: Checksum mismatch: expected ${expected}, got ${sha}`];
    if (!data.subarray(0, SNAPSHOT_MAGIC.length).equals(Buffer.from(SNAPSHOT_MAGIC))) return [400, 'Bad request: not a snapshot file of this recording server'];
    const snap = JSON.parse(data.subarray(SNAPSHOT_MAGIC.length).toString('utf8')) as { size: number; distance: string; metadata: Record<string, unknown> | null; points: StoredPoint[] };
    const target = this.aliases.get(name) ?? name;
    this.#files(target).set(part.filename ?? 'upload.snapshot', data);
    const existing = this.collections.get(target);
    if (existing && (existing.size !== snap.size || existing.distance !== snap.distance)) return [400, 'Bad request: Snapshot is not compatible with existing collection'];
    this.collections.set(target, { size: snap.size, distance: snap.distance, metadata: snap.metadata, points: new Map(snap.points.map((p) => [p.id, p])) });
    return [200, true];
  }

  /** All actions or none (Qdrant applies them under one lock). */
  #updateAliases(actions: Record<string, any>[]): readonly [number, unknown] {
    const next = new Map(this.aliases);
    for (const a of actions) {
      if (a.create_alias) {
        const { collection_name, alias_name } = a.create_alias as { collection_name: string; alias_name: string };
        if (!this.collections.has(collection_name)) return [404, `Not found: Collection \`${collection_name}\` doesn't exist!`];
        if (this.collections.has(alias_name)) return [409, `Wrong input: Collection \`${alias_name}\` already exists!`];
        next.set(alias_name, collection_name);
      } else if (a.delete_alias) {
        next.delete(a.delete_alias.alias_name as string);
      } else if (a.rename_alias) {
        const target = next.get(a.rename_alias.old_alias_name as string);
        if (target === undefined) return [404, `Not found: Alias ${a.rename_alias.old_alias_name} does not exists!`];
        next.delete(a.rename_alias.old_alias_name as string);
        next.set(a.rename_alias.new_alias_name as string, target);
      }
    }
    this.aliases.clear();
    for (const [k, v] of next) this.aliases.set(k, v);
    return [200, true];
  }

  #files(collection: string): Map<string, Buffer> {
    let files = this.snapshotFiles.get(collection);
    if (!files) this.snapshotFiles.set(collection, (files = new Map()));
    return files;
  }
}

function describeSnapshot(name: string, data: Buffer) {
  return { name, creation_time: '2026-01-01T00:00:00', size: data.length, checksum: createHash('sha256').update(data).digest('hex') };
}

function collectionInfo(col: FakeCollection) {
  return {
    status: 'green',
    optimizer_status: 'ok',
    segments_count: 1,
    points_count: col.points.size,
    indexed_vectors_count: 0,
    payload_schema: {},
    config: {
      params: { vectors: { size: col.size, distance: col.distance }, shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: true },
      hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000 },
      optimizer_config: { default_segment_number: 0, flush_interval_sec: 5, deleted_threshold: 0.2, vacuum_min_vector_number: 1000, max_optimization_threads: null },
      wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
      quantization_config: null,
      metadata: col.metadata,
    },
  };
}

/** A multipart/form-data body split into its parts (RFC 7578), problems noted. */
function parseMultipart(raw: Buffer, contentType: string, problems: string[]): Part[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  const b = boundary?.[1] ?? boundary?.[2];
  if (!b) {
    problems.push('multipart body without a boundary');
    return [];
  }
  const delimiter = Buffer.from(`--${b}`);
  const parts: Part[] = [];
  let pos = raw.indexOf(delimiter);
  if (pos !== 0) problems.push('multipart body does not start with its boundary');
  while (pos !== -1) {
    const after = pos + delimiter.length;
    if (raw.subarray(after, after + 2).toString() === '--') break;
    const headerEnd = raw.indexOf('\r\n\r\n', after);
    const next = raw.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd);
    if (headerEnd === -1 || next === -1) {
      problems.push('multipart part is not terminated');
      break;
    }
    const headers = raw.subarray(after + 2, headerEnd).toString('utf8');
    const disposition = /content-disposition:\s*form-data;\s*name="([^"]*)"(?:;\s*filename="([^"]*)")?/i.exec(headers);
    if (!disposition?.[1]) problems.push(`multipart part without a form-data name: ${headers}`);
    const data = raw.subarray(headerEnd + 4, next);
    parts.push({ name: disposition?.[1] ?? '', filename: disposition?.[2], size: data.length, data });
    pos = next + 2;
  }
  return parts;
}
