/**
 * Alerts straight into Elasticsearch: the `_bulk` API, one `create` per alert into a data stream
 * (default `logs-chainwatch.alerts-default`, which the built-in `logs-*-*` template maps as ECS),
 * `Authorization: ApiKey`. Each document's `_id` is the alert's id and count (a rollup update is a
 * document of its own), so a batch sent again after a failure is not indexed twice: what the
 * first try created answers 409, taken as delivered. `_bulk` answers 200 with a status per
 * document: those refused for a reason that passes (429, 5xx) have the batch sent again; those
 * refused for good (a field its mapping cannot take) are dropped and said.
 */
import type { Alert } from './alerts.js';
import type { FormatOptions } from './format-common.js';
import { post } from './sink-http.js';
import { type AlertFormat, type Refused, type SinkTransport, formatAlert } from './sinks.js';

export interface ElasticsearchSinkConfig { url: string; index: string; apiKey?: string; format: AlertFormat; timeoutMs: number }

interface BulkItem { status: number; error?: { type?: string; reason?: string } }

export class ElasticsearchSink implements SinkTransport {
  readonly name: string;
  private readonly endpoint: string;

  constructor(private readonly c: ElasticsearchSinkConfig, private readonly o: FormatOptions) {
    this.name = `elasticsearch ${new URL(c.url).host}/${c.index}`;
    this.endpoint = `${c.url.replace(/\/+$/, '')}/${encodeURIComponent(c.index)}/_bulk`;
  }

  async send(alerts: Alert[]): Promise<void | Refused> {
    const body = alerts.map((a) => `${JSON.stringify({ create: { _id: `${a.id}-${a.count}` } })}\n${JSON.stringify(formatAlert(a, this.c.format === 'cef' ? 'json' : this.c.format, this.o))}\n`).join('');
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', ...(this.c.apiKey ? { authorization: `ApiKey ${this.c.apiKey}` } : {}) };
    const answer = JSON.parse(await post(this.endpoint, body, headers, this.c.timeoutMs)) as { errors?: boolean; items?: Record<string, BulkItem>[] };
    if (!answer.errors) return undefined;
    const items = (answer.items ?? []).map((i) => Object.values(i)[0]);
    const again = items.filter((i) => i.status === 429 || i.status >= 500);
    if (again.length > 0) throw new Error(`Elasticsearch took ${items.length - again.length} of ${items.length} alerts; ${again.length} to send again: ${describeItem(again[0])}`);
    const refused = alerts.filter((_, i) => items[i] !== undefined && items[i].status >= 300 && items[i].status !== 409);
    if (refused.length === 0) return undefined;
    return { alerts: refused, reason: describeItem(items.find((i) => i.status >= 300 && i.status !== 409)!) };
  }

  async close(): Promise<void> {}
}

function describeItem(i: BulkItem): string {
  return `${i.status} ${i.error?.type ?? ''}${i.error?.reason ? `: ${i.error.reason}` : ''}`.trim();
}
