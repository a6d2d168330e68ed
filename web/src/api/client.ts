/**
 * The console's one API client: every request goes through here, with the tab's token, and every
 * failure becomes an ApiError carrying the server's `{error: {code, message}}` (or, when the
 * server could not be reached or answered something else, a code of our own that says so).
 */
import type {
  AuditPage,
  ControlDetail,
  IndexCheck,
  Job,
  JobAccepted,
  Manifest,
  Me,
  PipelineStatus,
  PruneResult,
  RestorePlan,
  Schedule,
  ScheduleInput,
  SearchResponse,
  ServiceHealth,
  SnapshotDiff,
  SnapshotHealth,
  SnapshotList,
  SnapshotStatus,
  UploadPage,
  VerifyResult,
} from './types';
import type { ErrorCode } from '../../../src/errors.js';

/**
 * What an ApiError's code can be: the server's error codes (its one table, src/errors.ts, so a
 * code the server drops or renames fails the console's type check), INTERRUPTED (a job whose
 * server stopped), and the console's own for answers that never came from nfr.
 */
export type ApiErrorCode = ErrorCode | 'INTERRUPTED' | 'NETWORK' | 'BAD_RESPONSE' | `HTTP_${number}`;

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface RequestOptions {
  readonly body?: unknown;
  /** Statuses whose body is an answer, not a failure (health reports say "unhealthy" with 503). */
  readonly accept?: readonly number[];
  readonly signal?: AbortSignal;
}

const SNAPSHOTS = '/api/v2/devdata/snapshots';

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (parsed.error && typeof parsed.error.code === 'string') {
      return new ApiError(parsed.error.code as ErrorCode, String(parsed.error.message ?? ''), res.status);
    }
  } catch {
    // Not JSON: a proxy's page, say. Shown as it came, shortened.
  }
  return new ApiError(`HTTP_${res.status}`, text.slice(0, 300) || res.statusText || 'no message', res.status);
}

export class Api {
  constructor(
    private readonly token: string,
    private readonly onUnauthorized: (err: ApiError) => void = () => {},
  ) {}

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let res: Response;
    try {
      res = await fetch(path, { method, headers, body, signal: options.signal, credentials: 'omit', cache: 'no-store' });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError('NETWORK', `the server did not answer (${(err as Error).message}); is nfr serve running?`, 0);
    }
    if (res.ok || options.accept?.includes(res.status)) {
      const text = await res.text();
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new ApiError('BAD_RESPONSE', `${method} ${path} answered ${res.status} with a body that is not JSON`, res.status);
      }
    }
    const err = await errorFrom(res);
    if (res.status === 401) this.onUnauthorized(err);
    throw err;
  }

  get<T>(path: string, options?: RequestOptions) {
    return this.request<T>('GET', path, options);
  }

  post<T>(path: string, body: unknown = {}, options?: RequestOptions) {
    return this.request<T>('POST', path, { ...options, body });
  }

  /**
   * A multipart upload with progress: fetch cannot report how much of a request body was sent,
   * XMLHttpRequest can.
   */
  upload<T>(path: string, file: File, onProgress: (sent: number, total: number) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      xhr.setRequestHeader('authorization', `Bearer ${this.token}`);
      xhr.setRequestHeader('accept', 'application/json');
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onerror = () => reject(new ApiError('NETWORK', 'the upload did not reach the server; is nfr serve running?', 0));
      xhr.onload = () => {
        const res = new Response(xhr.responseText, { status: xhr.status });
        if (xhr.status >= 200 && xhr.status < 300) {
          try {
            resolve(JSON.parse(xhr.responseText) as T);
          } catch {
            reject(new ApiError('BAD_RESPONSE', `the upload answered ${xhr.status} with a body that is not JSON`, xhr.status));
          }
          return;
        }
        void errorFrom(res).then((err) => {
          if (xhr.status === 401) this.onUnauthorized(err);
          reject(err);
        });
      };
      const form = new FormData();
      form.append('file', file, file.name);
      xhr.send(form);
    });
  }

  // --- the routes the console uses, one function each -------------------------------------

  me = () => this.get<Me>('/api/v2/auth/me');
  health = () => this.get<ServiceHealth>('/health', { accept: [503] });

  snapshots = () => this.get<SnapshotList>(SNAPSHOTS);
  snapshot = (id: string) => this.get<Manifest>(`${SNAPSHOTS}/${encodeURIComponent(id)}`);
  snapshotStatus = () => this.get<SnapshotStatus>(`${SNAPSHOTS}/status`);
  snapshotHealth = () => this.get<SnapshotHealth>(`${SNAPSHOTS}/health`, { accept: [503] });
  /** The diff from history answers at once; one that needs a copy of the snapshot answers with its job. */
  diff = (id: string, to = 'live', params: { limit?: number; cursor?: string } = {}) => {
    const q = new URLSearchParams({ to, ...(params.limit ? { limit: String(params.limit) } : {}), ...(params.cursor ? { cursor: params.cursor } : {}) });
    return this.get<SnapshotDiff | (JobAccepted & { method: string; method_reason: string })>(`${SNAPSHOTS}/${encodeURIComponent(id)}/diff?${q.toString()}`);
  };
  restorePlan = (id: string) => this.get<RestorePlan>(`${SNAPSHOTS}/${encodeURIComponent(id)}/restore-plan`);
  createSnapshot = (body: { name: string; description?: string; tags?: string[]; full?: boolean }) => this.post<JobAccepted>(`${SNAPSHOTS}/create`, body);
  restore = (id: string, body: { skip_backup: boolean; force: boolean; resync: boolean }) => this.post<JobAccepted>(`${SNAPSHOTS}/${encodeURIComponent(id)}/restore`, body);
  undo = () => this.post<JobAccepted>(`${SNAPSHOTS}/undo`);
  verify = (id: string, deep = false) => this.post<VerifyResult>(`${SNAPSHOTS}/${encodeURIComponent(id)}/verify`, { deep });
  deleteSnapshot = (id: string) => this.request<{ id: string; freed_bytes: number }>('DELETE', `${SNAPSHOTS}/${encodeURIComponent(id)}`);
  /** Always says which: a prune request without dry_run is never sent. */
  prune = (dryRun: boolean) => this.post<PruneResult>(`${SNAPSHOTS}/prune`, { dry_run: dryRun });

  schedules = () => this.get<{ schedules: Schedule[] }>(`${SNAPSHOTS}/schedules`);
  addSchedule = (body: ScheduleInput) => this.post<Schedule>(`${SNAPSHOTS}/schedules`, body);
  removeSchedule = (name: string) => this.request<{ name: string; removed: boolean }>('DELETE', `${SNAPSHOTS}/schedules/${encodeURIComponent(name)}`);
  pauseSchedule = (name: string, paused: boolean) => this.post<Schedule>(`${SNAPSHOTS}/schedules/${encodeURIComponent(name)}/${paused ? 'pause' : 'resume'}`);

  job = (id: string) => this.get<Job>(`/api/v2/jobs/${encodeURIComponent(id)}`);
  cancelJob = (id: string) => this.post<Job>(`/api/v2/jobs/${encodeURIComponent(id)}/cancel`);
  jobs = (params: { status?: string; limit?: number } = {}) => this.get<{ jobs: Job[] }>(`/api/v2/jobs${query(params)}`);

  pipelineStatus = () => this.get<PipelineStatus>('/api/v2/pipelines/status');
  indexCheck = () => this.get<IndexCheck>('/api/v2/pipelines/index/check');
  indexSync = (force = false) => this.post<JobAccepted>('/api/v2/pipelines/index/sync', { force });
  ingestContext = () => this.post<JobAccepted>('/api/v2/pipelines/context/ingest', {});
  uploads = (page: { limit: number; offset: number }) => this.get<UploadPage>(`/api/v2/pipelines/uploads${query(page)}`);
  uploadControls = (file: File, onProgress: (sent: number, total: number) => void) => this.upload<JobAccepted>('/api/v2/pipelines/controls/ingest', file, onProgress);

  search = (q: string, options: { mode?: string; family?: string; limit?: number } = {}) =>
    this.get<SearchResponse>(`/api/v2/controls/search${query({ q, mode: options.mode, family_id: options.family, limit: options.limit ?? 20 })}`);
  audit = (page: { limit?: number; cursor?: string } = {}) => this.get<AuditPage>(`/api/v2/audit${query(page)}`);
  control = (id: string, asOf?: string) => this.get<ControlDetail>(`/api/v2/controls/${encodeURIComponent(id)}${query({ as_of: asOf })}`);
}
