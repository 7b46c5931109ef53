/**
 * Alert sinks: where alerts go besides the JSONL file — several at once, each in the format its
 * consumer ingests. Each sink has its own bounded queue and sends in batches off the hot path,
 * retrying with backoff; a sink that stays down loses only what overflows its queue, counted per
 * sink (`/status`, metrics). Secrets (HEC tokens, webhook secrets) come from environment
 * variables named in the config, never from the file.
 */
import { appendFile } from 'node:fs/promises';
import type { Alert } from './alerts.js';
import type { RetryAfter } from './retry-after.js';
import { toCef } from './format-cef.js';
import { type FormatOptions, defaultFormatOptions, traceLink } from './format-common.js';
import { toEcs } from './format-ecs.js';
import { toOcsf } from './format-ocsf.js';

export type AlertFormat = 'json' | 'ocsf' | 'ecs' | 'cef';

/** The alert as its consumer wants it: an object for JSON formats, a line for CEF. */
export function formatAlert(a: Alert, format: AlertFormat, o: FormatOptions = defaultFormatOptions): Record<string, unknown> | string {
  switch (format) {
    case 'ocsf': return toOcsf(a, o);
    case 'ecs': return toEcs(a, o);
    case 'cef': return toCef(a, o);
    default: {
      const link = traceLink(a, o.linkTemplate);
      return link === undefined ? (a as unknown as Record<string, unknown>) : { ...a, traceLink: link };
    }
  }
}

/** Alerts of a batch the receiver took the rest of but refused for good (a document its index cannot map). */
export interface Refused {
  alerts: Alert[];
  reason: string;
}

export interface SinkTransport {
  readonly name: string;
  /** Deliver a batch; throw to have it retried; return what the receiver refused for good, if any. */
  send(alerts: Alert[]): Promise<void | Refused>;
  close(): Promise<void>;
}

/**
 * Thrown by a transport whose receiver refused a batch for its size (HTTP 413, Kafka's
 * MESSAGE_TOO_LARGE): smaller batches will go where this one cannot, so it is not an outage.
 */
export class BatchTooLargeError extends Error {}

export type SinkTrouble =
  | { kind: 'failing'; err: string }
  | { kind: 'recovered' }
  | { kind: 'overflow'; err: string; queued: number }
  | { kind: 'gave-up'; err: string; dropped: number }
  /** The receiver refused a batch of `refused` alerts as too large: batches of at most `batch` from now on. */
  | { kind: 'smaller-batches'; err: string; refused: number; batch: number }
  /** One alert alone is too large for the receiver: dropped, counted. */
  | { kind: 'too-large'; err: string; alert: string }
  /** The receiver took a batch but refused some of its alerts for good: dropped, counted. */
  | { kind: 'refused'; err: string; alerts: string[] };

/** How the service logs a sink's trouble: the level, the fields, and a line saying what becomes of the alerts. */
export function troubleLog(sink: string, e: SinkTrouble): { level: 'info' | 'warn' | 'error'; fields: Record<string, unknown>; message: string } {
  switch (e.kind) {
    case 'failing':
      return { level: 'warn', fields: { sink, err: e.err }, message: `sink ${sink}: cannot deliver, retrying (alerts wait in its queue): ${e.err}` };
    case 'recovered':
      return { level: 'info', fields: { sink }, message: `sink ${sink}: delivering again` };
    case 'overflow':
      return { level: 'error', fields: { sink, err: e.err }, message: `sink ${sink}: ${e.queued} alerts wait, the most it keeps: the oldest are dropped from now on (counted in /status): ${e.err}` };
    case 'gave-up':
      return { level: 'error', fields: { sink, err: e.err, dropped: e.dropped }, message: `sink ${sink}: ${e.dropped} alerts undelivered at shutdown: ${e.err}` };
    case 'smaller-batches':
      return { level: 'warn', fields: { sink, err: e.err }, message: `sink ${sink}: a batch of ${e.refused} alerts was refused as too large: at most ${e.batch} a batch from now on (${e.err})` };
    case 'too-large':
      return { level: 'error', fields: { sink, err: e.err, alert: e.alert }, message: `sink ${sink}: alert ${e.alert} is too large for it on its own: dropped (it is in the alerts file and the event store): ${e.err}` };
    case 'refused':
      return { level: 'error', fields: { sink, err: e.err, alerts: e.alerts }, message: `sink ${sink}: refused ${e.alerts.length} alert${e.alerts.length === 1 ? '' : 's'} for good: dropped (in the alerts file and the event store): ${e.err}` };
  }
}

export interface SinkCounters { sent: number; failedAttempts: number; dropped: number; queued: number; lastError?: string }

/**
 * `maxAttempts`: tries of what is left once the sink is closing (a service stopping); until then a
 * failing batch is retried for as long as the queue has room, every `backoffMs` doubled up to
 * `maxBackoffMs` — or as long as the receiver asks (Retry-After), up to `maxBackoffMs` too.
 */
export interface SinkRunnerOptions { maxQueue: number; batch: number; flushMs: number; maxAttempts: number; backoffMs: number; maxBackoffMs: number }
export const defaultSinkRunnerOptions: SinkRunnerOptions = { maxQueue: 10_000, batch: 500, flushMs: 200, maxAttempts: 5, backoffMs: 500, maxBackoffMs: 30_000 };

/**
 * One sink's queue and delivery loop. A sink that is down keeps its alerts and retries: a SIEM
 * restarting for a minute or two loses nothing. Only past `maxQueue` alerts waiting are the
 * oldest dropped, counted; and what is still undelivered when the sink closes, after
 * `maxAttempts` more tries. A batch refused for its size (a proxy's 1 MB body limit meets the
 * full batches of a backlog — exactly when a SIEM comes back) is halved until it goes, and the
 * sink keeps to that size; only an alert too large on its own is dropped, counted: retried as it
 * was, the batch would block every alert behind it for good.
 */
export class SinkRunner {
  private queue: Alert[] = [];
  /** Alerts at the head of the queue being sent now: overflow drops the oldest after them. */
  private inflight = 0;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Ends the wait between retries early (close). */
  private wake: (() => void) | undefined;
  private closed = false;
  /** Failed tries since close began: what is left is given up after `maxAttempts` of them. */
  private failuresClosing = 0;
  private failing = false;
  private overflowing = false;
  /** The most alerts a batch holds: `batch`, until the receiver refuses one as too large. */
  private batchLimit: number;
  readonly counters: SinkCounters = { sent: 0, failedAttempts: 0, dropped: 0, queued: 0 };
  /**
   * Told when delivery starts failing, when it works again, when the queue starts to overflow
   * (from then the oldest are dropped, counted), and of what was left undelivered at close — a
   * sink that stayed down showed only in /status before.
   */
  onTrouble: (event: SinkTrouble) => void = () => {};

  constructor(readonly transport: SinkTransport, private readonly o: SinkRunnerOptions = defaultSinkRunnerOptions) {
    this.batchLimit = o.batch;
    this.timer = setInterval(() => void this.pump(), o.flushMs);
    this.timer.unref();
  }

  offer(alert: Alert): void {
    if (this.queue.length >= this.o.maxQueue) {
      // The oldest not in flight goes (the batch being sent is the transport's to answer for).
      if (this.queue.length > this.inflight) this.queue.splice(this.inflight, 1);
      this.counters.dropped++;
      if (!this.overflowing) {
        this.overflowing = true;
        this.onTrouble({ kind: 'overflow', err: this.counters.lastError ?? 'the sink is slower than the alerts come', queued: this.o.maxQueue });
      }
      if (this.queue.length >= this.o.maxQueue) return; // all of it in flight: the new alert is the one dropped
    }
    this.queue.push(alert);
    this.counters.queued = this.queue.length;
    if (this.queue.length >= this.o.batch) void this.pump();
  }

  /** Send what is queued, batch by batch, retrying a batch that fails (see the class). */
  pump(): Promise<void> {
    // Cleared in a `finally` of the promise itself, which runs after this assignment: cleared
    // inside the async body instead, a pump that found nothing to send finished before `running`
    // was set, left it set for good, and every later pump returned it without sending anything.
    if (this.running === undefined && this.queue.length > 0) this.running = this.drain().finally(() => (this.running = undefined));
    return this.running ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    let failures = 0;
    while (this.queue.length) {
      const batch = this.queue.slice(0, this.batchLimit);
      this.inflight = batch.length;
      let refused: void | Refused;
      try {
        refused = await this.transport.send(batch);
      } catch (err) {
        this.inflight = 0;
        this.counters.failedAttempts++;
        this.counters.lastError = (err as Error).message;
        if (err instanceof BatchTooLargeError) {
          this.tooLarge(batch, err);
          continue;
        }
        failures++;
        if (!this.failing) {
          this.failing = true;
          this.onTrouble({ kind: 'failing', err: this.counters.lastError });
        }
        if (this.closed && ++this.failuresClosing >= this.o.maxAttempts) {
          const lost = this.queue.length;
          this.queue = [];
          this.counters.dropped += lost;
          this.counters.queued = 0;
          this.onTrouble({ kind: 'gave-up', err: this.counters.lastError, dropped: lost });
          return;
        }
        const backoff = this.closed ? this.o.backoffMs : Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** (failures - 1));
        let wait = backoff * (0.5 + Math.random());
        // As long as the receiver asked (Retry-After), but not past the longest backoff: closing
        // waits its own short turns, and an answer of hours must not stall the queue behind it.
        const asked = (err as RetryAfter).retryAfterMs;
        if (asked !== undefined && !this.closed) wait = Math.min(this.o.maxBackoffMs, Math.max(wait, asked));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        continue;
      }
      this.inflight = 0;
      this.queue.splice(0, batch.length);
      const lost = refused ? refused.alerts.length : 0;
      this.counters.sent += batch.length - lost;
      this.counters.queued = this.queue.length;
      failures = 0;
      this.overflowing = false;
      if (this.failing) {
        this.failing = false;
        this.onTrouble({ kind: 'recovered' });
      }
      if (refused && lost > 0) {
        this.counters.dropped += lost;
        this.onTrouble({ kind: 'refused', err: refused.reason, alerts: refused.alerts.map((a) => a.id) });
      }
    }
  }

  /** Halve the batches, or drop the one alert that is too large alone; sent again at once either way. */
  private tooLarge(batch: Alert[], err: Error): void {
    if (batch.length > 1) {
      this.batchLimit = Math.ceil(batch.length / 2);
      this.onTrouble({ kind: 'smaller-batches', err: err.message, refused: batch.length, batch: this.batchLimit });
      return;
    }
    this.queue.shift();
    this.counters.dropped++;
    this.counters.queued = this.queue.length;
    this.onTrouble({ kind: 'too-large', err: err.message, alert: batch[0].id });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.closed = true;
    this.wake?.();
    await this.pump();
    await this.transport.close();
  }
}

/** Alert lines to a file (appended) or stdout, in any format. */
export class FileSink implements SinkTransport {
  readonly name: string;
  constructor(private readonly path: string, private readonly format: AlertFormat, private readonly o: FormatOptions) {
    this.name = `file ${path}`;
  }

  async send(alerts: Alert[]): Promise<void> {
    const text = `${alerts.map((a) => {
      const v = formatAlert(a, this.format, this.o);
      return typeof v === 'string' ? v : JSON.stringify(v);
    }).join('\n')}\n`;
    if (this.path === '-') process.stdout.write(text);
    else await appendFile(this.path, text);
  }

  async close(): Promise<void> {}
}
