/**
 * RFC 5424 syslog messages and RFC 6587 octet-counting frames (FORMATS.md 4.5): the header fields
 * are printable US-ASCII without spaces and cut to their maximum lengths, structured-data values
 * escape `"`, `\` and `]`, and the frame length counts UTF-8 bytes (the BOM included), not
 * characters.
 */
import { hostname } from 'node:os';
import type { Alert } from './alerts.js';
import type { Severity } from './severity.js';

/** RFC 5424 severities: critical → 2 crit … info → 6 info. */
const SYSLOG_SEVERITY: Record<Severity, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
/** Private enterprise number 32473 is reserved for documentation (RFC 5612); set your own. */
export const DEFAULT_SD_ID = 'chainwatch@32473';
const BOM = '\uFEFF';

export interface SyslogOptions {
  /** 0–23; default 10 (authpriv). */
  facility: number;
  appName: string;
  hostname?: string;
  sdId: string;
}

export const defaultSyslogOptions: SyslogOptions = { facility: 10, appName: 'chainwatch', sdId: DEFAULT_SD_ID };

/** A header field: printable US-ASCII (33–126), at most `max` characters, `-` when empty. */
export function headerField(v: string | undefined, max: number): string {
  const s = (v ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return s === '' ? '-' : s;
}

export function sdValue(v: string): string {
  return v.replace(/["\\\]]/g, (m) => `\\${m}`);
}

export function syslogMessage(a: Alert, msg: string, o: SyslogOptions): string {
  const pri = o.facility * 8 + SYSLOG_SEVERITY[a.severity];
  const params: [string, string | undefined][] = [['alert', a.id], ['severity', a.severity], ['agent', a.agent.id], ['trace', a.traceId], ['spans', a.spanIds.join(',')], ['credential', a.credential]];
  const sd = `[${o.sdId}${params.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => ` ${k}="${sdValue(v!)}"`).join('')}]`;
  const header = `<${pri}>1 ${new Date().toISOString()} ${headerField(o.hostname ?? hostname(), 255)} ${headerField(o.appName, 48)} ${headerField(String(process.pid), 128)} ${headerField('ALERT', 32)}`;
  return `${header} ${sd} ${BOM}${msg}`;
}

/** `MSG-LEN SP SYSLOG-MSG`, MSG-LEN in bytes. */
export function octetFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}
