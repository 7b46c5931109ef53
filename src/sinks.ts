/**
 * Alert sinks: where alerts go besides the JSONL file — several at once, each in the format its
 * consumer ingests. Each sink has its own bounded queue and sends in batches off the hot path,
 * retrying with backoff; a sink that stays down loses only what overflows its queue, counted per
 * sink (`/status`, metrics). Secrets (HEC tokens, webhook secrets) come from environment
 * variables named in the config, never from the file.
 */
import { appendFile } from 'node:fs/promises';
import type { Alert } from './alerts.js';
import { ConfigError } from './errors.js';
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

export interface SinkTransport {
  readonly name: string;
  /** Deliver a batch; throw to have it retried. */
  send(alerts: Alert[]): Promise<void>;
  close(): Promise<void>;
}

export interface SinkCounters { sent: number; failedAttempts: number; dropped: number; queued: number; lastError?: string }

export interface SinkRunnerOptions { maxQueue: number; batch: number; flushMs: number; maxAttempts: number; backoffMs: number }
export const defaultSinkRunnerOptions: SinkRunnerOptions = { maxQueue: 10_000, batch: 500, flushMs: 200, maxAttempts: 5, backoffMs: 500 };

/** One sink's queue and delivery loop. */
export class SinkRunner {
  private queue: Alert[] = [];
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failing = false;
  readonly counters: SinkCounters = { sent: 0, failedAttempts: 0, dropped: 0, queued: 0 };
  /**
   * Told when delivery starts failing (the error), when it works again (undefined), and of every
   * batch given up (`dropped`): a sink that stays down showed only in /status before.
   */
  onTrouble: (err: string | undefined, dropped?: number) => void = () => {};

  constructor(readonly transport: SinkTransport, private readonly o: SinkRunnerOptions = defaultSinkRunnerOptions) {
    this.timer = setInterval(() => void this.pump(), o.flushMs);
    this.timer.unref();
  }

  offer(alert: Alert): void {
    if (this.queue.length >= this.o.maxQueue) {
      this.queue.shift();
      this.counters.dropped++;
    }
    this.queue.push(alert);
    this.counters.queued = this.queue.length;
    if (this.queue.length >= this.o.batch) void this.pump();
  }

  /** Send what is queued, batch by batch; a batch that keeps failing is dropped and counted. */
  pump(): Promise<void> {
    // Cleared in a `finally` of the promise itself, which runs after this assignment: cleared
    // inside the async body instead, a pump that found nothing to send finished before `running`
    // was set, left it set for good, and every later pump returned it without sending anything.
    if (this.running === undefined && this.queue.length > 0) this.running = this.drain().finally(() => (this.running = undefined));
    return this.running ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.slice(0, this.o.batch);
      let ok = false;
      for (let attempt = 1; attempt <= this.o.maxAttempts && !ok; attempt++) {
        try {
          await this.transport.send(batch);
          ok = true;
          if (this.failing) {
            this.failing = false;
            this.onTrouble(undefined);
          }
        } catch (err) {
          this.counters.failedAttempts++;
          this.counters.lastError = (err as Error).message;
          if (!this.failing) {
            this.failing = true;
            this.onTrouble(this.counters.lastError);
          }
          if (attempt < this.o.maxAttempts && !this.closed) await new Promise((r) => setTimeout(r, this.o.backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random())));
        }
      }
      this.queue.splice(0, batch.length);
      if (ok) this.counters.sent += batch.length;
      else {
        this.counters.dropped += batch.length;
        this.onTrouble(this.counters.lastError, batch.length);
      }
      this.counters.queued = this.queue.length;
      if (!ok && this.closed) break;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.pump();
    this.closed = true;
    await this.transport.close();
  }
}

/** Read a secret from the environment variable the config names. */
export function secretFromEnv(env: NodeJS.ProcessEnv, name: string | undefined, where: string): string | undefined {
  if (name === undefined) return undefined;
  const v = env[name];
  if (v === undefined || v === '') throw ConfigError.ofSetting(where, `environment variable ${name} is not set: export it (secrets are never read from the config file)`);
  return v;
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
