/** Alert output: JSON lines to a file (appended) and, optionally, a human line to a stream. */
import { appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import pc from 'picocolors';
import type { Alert } from './alerts.js';
import { ensureDir } from './ensure-dir.js';

const COLOR = { info: pc.gray, low: pc.cyan, medium: pc.yellow, high: pc.red, critical: (s: string) => pc.bold(pc.red(s)) };

/** Lines kept for the file while it cannot be written; past this the oldest are dropped, counted. */
const MAX_PENDING_LINES = 100_000;

export interface AlertFileCounters {
  written: number;
  /** Alerts the file never got: it stayed unwritable while more than `maxPending` (100,000) waited. */
  dropped: number;
  lastError?: string;
}

export class AlertWriter {
  private buffer: string[] = [];
  readonly counters: AlertFileCounters = { written: 0, dropped: 0 };
  /** Told when writing the file starts failing (the error) and when it works again (undefined). */
  onFileError: (err: Error | undefined) => void = () => {};
  private failing = false;

  constructor(readonly file: string | undefined, readonly stream?: NodeJS.WritableStream, readonly json = true, private readonly maxPending = MAX_PENDING_LINES) {
    if (file) ensureDir(dirname(file));
  }

  write(alert: Alert): void {
    const line = JSON.stringify(alert);
    if (this.file) this.buffer.push(line);
    if (this.buffer.length >= 256) this.flush();
    if (this.stream) this.stream.write(this.json ? `${line}\n` : `${formatAlert(alert)}\n`);
  }

  /** Alert lines not yet in the file. */
  get pending(): number {
    return this.buffer.length;
  }

  /**
   * Append what is buffered. A file that cannot be written (disk full, permissions, its directory
   * gone) keeps the lines for the next flush instead of throwing: thrown from the receiver's
   * request or a timer, it failed requests whose spans were taken, or stopped the process.
   */
  flush(): void {
    if (!this.file || this.buffer.length === 0) return;
    try {
      appendFileSync(this.file, `${this.buffer.join('\n')}\n`);
    } catch (err) {
      this.counters.lastError = (err as Error).message;
      if (this.buffer.length > this.maxPending) {
        const over = this.buffer.length - this.maxPending;
        this.buffer.splice(0, over);
        this.counters.dropped += over;
      }
      if (!this.failing) {
        this.failing = true;
        this.onFileError(err as Error);
      }
      return;
    }
    this.counters.written += this.buffer.length;
    this.buffer = [];
    if (this.failing) {
      this.failing = false;
      this.onFileError(undefined);
    }
  }
}

export function formatAlert(a: Alert): string {
  const sev = COLOR[a.severity](a.severity.toUpperCase().padEnd(8));
  const head = `${sev} ${a.time} ${pc.bold(a.agent.id)} ${a.title}${a.update ? pc.gray(` (rollup ×${a.count})`) : ''}`;
  return `${head}\n         ${a.summary}\n         ${pc.gray(`trace ${a.traceId} spans ${a.spanIds.join(',')}`)}`;
}
