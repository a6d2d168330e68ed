/**
 * Alert delivery to webhooks (NFR_ALERT_WEBHOOK_URL, comma-separated): a POST of JSON
 * `{event, severity, status, summary, details, occurred_at, server, text}` — `text` makes Slack-,
 * Mattermost- and Teams-style incoming webhooks show it as it is. With NFR_ALERT_WEBHOOK_SECRET
 * each request carries `X-NFR-Signature: sha256=<hex HMAC-SHA256 of the body>`.
 *
 * Delivery never delays or fails the work that raised the alert: `dispatch` returns at once and
 * retries in the background (backoff 1 s, 4 s, 16 s; each attempt bounded by
 * NFR_ALERT_TIMEOUT_SECONDS); a receiver that still fails is logged and counted for /metrics.
 */
import { createHmac } from 'node:crypto';
import type { Config } from '../config.js';
import { messageOf, NfrError } from '../errors.js';

export type Severity = 'info' | 'warning' | 'critical';

export interface AlertPayload {
  readonly event: string;
  readonly severity: Severity;
  readonly status: 'firing' | 'resolved';
  readonly summary: string;
  readonly details: Record<string, unknown>;
  readonly occurred_at: string;
  /** The server that noticed it, `host:pid`. */
  readonly server: string;
  /** A one-line rendering for chat webhooks. */
  readonly text: string;
}

export type AlertConfig = Config['alerts'];

const ATTEMPTS = 4;
const FIRST_BACKOFF_MS = 1000;

export function alertPayload(p: Omit<AlertPayload, 'text' | 'occurred_at'> & { occurred_at?: string }): AlertPayload {
  const mark = p.status === 'resolved' ? 'RESOLVED' : p.severity.toUpperCase();
  return { ...p, occurred_at: p.occurred_at ?? new Date().toISOString(), text: `[${mark}] nfr ${p.event}: ${p.summary} (${p.server})` };
}

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** A receiver as logs may show it: its origin (a webhook's path is often its secret). */
export function receiverName(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an invalid URL';
  }
}

export interface Answer {
  readonly receiver: string;
  readonly ok: boolean;
  readonly status: number | null;
  /** The start of what the receiver answered, or why there was no answer. */
  readonly body: string;
  readonly attempts: number;
}

/** One POST, bounded by the timeout. */
async function post(url: string, body: string, config: AlertConfig): Promise<Omit<Answer, 'attempts'>> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'nfr-connect-alerts' };
  if (config.secret) headers['x-nfr-signature'] = signature(config.secret, body);
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(config.timeoutSeconds * 1000), redirect: 'error' });
    const text = (await res.text().catch(() => '')).slice(0, 500);
    return { receiver: receiverName(url), ok: res.ok, status: res.status, body: text };
  } catch (err) {
    // fetch says only "fetch failed"; why is in its cause: a code (ECONNREFUSED), or a message
    // with none (a port fetch refuses to use, such as 9 or 25, is a "bad port").
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const cause = e.cause?.code ? ` (${e.cause.code})` : e.cause?.message ? `: ${e.cause.message}` : '';
    const why = e.name === 'TimeoutError' ? `no answer within ${config.timeoutSeconds} s` : `${messageOf(err)}${cause}`;
    return { receiver: receiverName(url), ok: false, status: null, body: why };
  }
}

/** Posts to one receiver, retrying with backoff; answers the last attempt's outcome. */
export async function deliver(url: string, payload: AlertPayload, config: AlertConfig, attempts = ATTEMPTS): Promise<Answer> {
  const body = JSON.stringify(payload);
  let last: Omit<Answer, 'attempts'> | undefined;
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, FIRST_BACKOFF_MS * 4 ** (i - 1)).unref());
    last = await post(url, body, config);
    // A 4xx other than 408/429 will not change on a retry.
    if (last.ok || (last.status !== null && last.status >= 400 && last.status < 500 && last.status !== 408 && last.status !== 429)) return { ...last, attempts: i + 1 };
  }
  return { ...(last as Omit<Answer, 'attempts'>), attempts };
}

/** Where delivery outcomes go: failures to the log, both to /metrics' counters. */
export interface DeliveryReport {
  readonly log: (line: string) => void;
  readonly delivered?: (event: string) => void;
  readonly failed?: (event: string) => void;
}

/**
 * Sends to every receiver in the background; returns at once. Failures (after the retries) are
 * logged and counted.
 */
export function dispatch(payload: AlertPayload, config: AlertConfig, report: DeliveryReport): Promise<Answer[]> {
  const sending = Promise.all(
    config.webhookUrls.map(async (url) => {
      const answer = await deliver(url, payload, config);
      if (answer.ok) report.delivered?.(payload.event);
      else {
        report.failed?.(payload.event);
        report.log(`alert ${payload.event} (${payload.status}) could not be delivered to ${answer.receiver} after ${answer.attempts} attempt(s): ${answer.status ?? ''} ${answer.body}`.replace(/\s+/g, ' '));
      }
      return answer;
    }),
  );
  sending.catch(() => {});
  return sending;
}

/**
 * `nfr alert test`: one test alert to every receiver (one attempt each, so the answer comes at
 * once), answering what each said. CONFIG when no receiver is configured.
 */
export async function sendTestAlert(config: AlertConfig, server: string): Promise<{ payload: AlertPayload; answers: Answer[] }> {
  if (config.webhookUrls.length === 0) throw new NfrError('CONFIG', 'NFR_ALERT_WEBHOOK_URL is not set: name one or more webhook URLs (comma-separated) to send alerts to');
  const payload = alertPayload({ event: 'test', severity: 'info', status: 'firing', summary: 'test alert from `nfr alert test`: this receiver gets nfr-connect alerts', details: { receivers: config.webhookUrls.length, signed: config.secret !== undefined }, server });
  const answers = await Promise.all(config.webhookUrls.map((url) => deliver(url, payload, config, 1)));
  return { payload, answers };
}
