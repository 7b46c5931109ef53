/**
 * HTTP alert sinks. `webhook`: a JSON array of alerts in the chosen format, optionally signed
 * with Standard Webhooks (the batch's id is stable across retries). `splunk_hec`: the HEC event
 * envelope (FORMATS.md 4.3) — objects concatenated, not an array; `time` in seconds;
 * `Authorization: Splunk <token>`; flat indexed `fields`.
 */
import { createHash } from 'node:crypto';
import type { Alert } from './alerts.js';
import type { FormatOptions } from './format-common.js';
import { type AlertFormat, BatchTooLargeError, type SinkTransport, formatAlert } from './sinks.js';
import { signWebhook } from './webhook-sign.js';
import { describeFetchError } from './fetch-error.js';
import { type RetryAfter, retryAfterMs } from './retry-after.js';

export class HttpError extends Error implements RetryAfter {
  /** `retryAfterMs`: how long the receiver asked us to wait (its Retry-After), if it did. */
  constructor(readonly status: number, body: string, readonly retryAfterMs?: number) {
    // Refused credentials do not mend by retrying: the log that a sink is failing says what to check.
    const hint = status === 401 || status === 403 ? ' — the receiver refused the credentials sent, or what they allow: check the secret the sink\'s settings name (token_env, api_key_env, secret_env) and its permissions' : '';
    super(`HTTP ${status}: ${body.slice(0, 200)}${hint}`);
  }
}

/** POST a batch; the answer's text. A refusal throws: HttpError, or BatchTooLargeError for a 413. */
export async function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<string> {
  const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) }).catch((err: unknown) => {
    throw new Error(describeFetchError(err), { cause: err });
  });
  const text = await res.text();
  if (res.status === 413) throw new BatchTooLargeError(`HTTP 413: ${Buffer.byteLength(body)} bytes refused as too large: ${text.slice(0, 200)}`);
  if (res.status < 200 || res.status >= 300) throw new HttpError(res.status, text, retryAfterMs(res.headers.get('retry-after'), Date.now()));
  return text;
}

export interface WebhookSinkConfig { url: string; format: AlertFormat; headers: Record<string, string>; signingKey?: Buffer; timeoutMs: number }

export class WebhookSink implements SinkTransport {
  readonly name: string;
  constructor(private readonly c: WebhookSinkConfig, private readonly o: FormatOptions) {
    this.name = `webhook ${new URL(c.url).host}`;
  }

  async send(alerts: Alert[]): Promise<void> {
    const body = JSON.stringify(alerts.map((a) => formatAlert(a, this.c.format === 'cef' ? 'json' : this.c.format, this.o)));
    const headers: Record<string, string> = { 'content-type': 'application/json', ...this.c.headers };
    if (this.c.signingKey) {
      const id = `msg_${createHash('sha256').update(alerts.map((a) => `${a.id}:${a.count}`).join(',')).digest('hex').slice(0, 32)}`;
      Object.assign(headers, signWebhook(this.c.signingKey, id, body));
    }
    await post(this.c.url, body, headers, this.c.timeoutMs);
  }

  async close(): Promise<void> {}
}

export interface HecSinkConfig { url: string; token: string; format: AlertFormat; index?: string; sourcetype: string; host?: string; timeoutMs: number }

export class HecSink implements SinkTransport {
  readonly name: string;
  constructor(private readonly c: HecSinkConfig, private readonly o: FormatOptions) {
    this.name = `splunk_hec ${new URL(c.url).host}`;
  }

  async send(alerts: Alert[]): Promise<void> {
    const body = alerts.map((a) => {
      const env: Record<string, unknown> = {
        time: Date.parse(a.time) / 1000, source: 'chainwatch', sourcetype: this.c.sourcetype,
        event: formatAlert(a, this.c.format === 'cef' ? 'json' : this.c.format, this.o),
        fields: { alert_id: a.id, agent_id: a.agent.id, severity: a.severity, trace_id: a.traceId, detectors: a.detectors },
      };
      if (this.c.index !== undefined) env.index = this.c.index;
      if (this.c.host !== undefined) env.host = this.c.host;
      return JSON.stringify(env);
    }).join('\n');
    await post(this.c.url, body, { 'content-type': 'application/json', authorization: `Splunk ${this.c.token}` }, this.c.timeoutMs);
  }

  async close(): Promise<void> {}
}
