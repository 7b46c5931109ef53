/**
 * Syslog alert sink: RFC 5424 messages carrying CEF (or JSON) in MSG, framed by octet counting,
 * over TCP or TLS (RFC 5425). One connection, reopened on the next batch after an error; a batch
 * is written whole and counts as sent once the socket has flushed it.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Alert } from './alerts.js';
import type { FormatOptions } from './format-common.js';
import { type SyslogOptions, octetFrame, syslogMessage } from './format-syslog.js';
import { type SinkTransport, formatAlert } from './sinks.js';

export interface SyslogSinkConfig {
  host: string;
  port: number;
  tls?: { ca?: string; rejectUnauthorized: boolean; servername?: string };
  format: 'cef' | 'json';
  syslog: SyslogOptions;
  timeoutMs: number;
}

export class SyslogSink implements SinkTransport {
  readonly name: string;
  private socket: Socket | undefined;

  constructor(private readonly c: SyslogSinkConfig, private readonly o: FormatOptions) {
    this.name = `syslog${c.tls ? '+tls' : ''} ${c.host}:${c.port}`;
  }

  private open(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    return new Promise((resolve, reject) => {
      const done = (s: Socket): void => {
        s.setTimeout(0);
        s.on('error', () => s.destroy());
        this.socket = s;
        resolve(s);
      };
      const s: Socket = this.c.tls
        ? tlsConnect({ host: this.c.host, port: this.c.port, ca: this.c.tls.ca, rejectUnauthorized: this.c.tls.rejectUnauthorized, servername: this.c.tls.servername ?? this.c.host }, () => done(s))
        : tcpConnect({ host: this.c.host, port: this.c.port }, () => done(s));
      s.setTimeout(this.c.timeoutMs, () => s.destroy(new Error(`connect to ${this.c.host}:${this.c.port} timed out`)));
      s.once('error', reject);
    });
  }

  async send(alerts: Alert[]): Promise<void> {
    const frames = Buffer.concat(alerts.map((a) => {
      const body = formatAlert(a, this.c.format, this.o);
      return octetFrame(syslogMessage(a, typeof body === 'string' ? body : JSON.stringify(body), this.c.syslog));
    }));
    const s = await this.open();
    await new Promise<void>((resolve, reject) => {
      s.write(frames, (err) => (err ? reject(err) : resolve()));
    }).catch((err: Error) => {
      s.destroy();
      throw err;
    });
  }

  async close(): Promise<void> {
    const s = this.socket;
    if (s === undefined || s.destroyed) return;
    await new Promise<void>((r) => s.end(r));
  }
}
