/** Alert output: JSON lines to a file (appended) and, optionally, a human line to a stream. */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pc from 'picocolors';
import type { Alert } from './alerts.js';

const COLOR = { info: pc.gray, low: pc.cyan, medium: pc.yellow, high: pc.red, critical: (s: string) => pc.bold(pc.red(s)) };

export class AlertWriter {
  private buffer: string[] = [];

  constructor(readonly file: string | undefined, readonly stream?: NodeJS.WritableStream, readonly json = true) {
    if (file) mkdirSync(dirname(file), { recursive: true });
  }

  write(alert: Alert): void {
    const line = JSON.stringify(alert);
    if (this.file) this.buffer.push(line);
    if (this.buffer.length >= 256) this.flush();
    if (this.stream) this.stream.write(this.json ? `${line}\n` : `${formatAlert(alert)}\n`);
  }

  flush(): void {
    if (this.file && this.buffer.length) appendFileSync(this.file, `${this.buffer.join('\n')}\n`);
    this.buffer = [];
  }
}

export function formatAlert(a: Alert): string {
  const sev = COLOR[a.severity](a.severity.toUpperCase().padEnd(8));
  const head = `${sev} ${a.time} ${pc.bold(a.agent.id)} ${a.title}${a.update ? pc.gray(` (rollup ×${a.count})`) : ''}`;
  return `${head}\n         ${a.summary}\n         ${pc.gray(`trace ${a.traceId} spans ${a.spanIds.join(',')}`)}`;
}
