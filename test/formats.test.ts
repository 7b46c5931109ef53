/**
 * SIEM formats of an alert: CEF header and extension escaping with hostile values (pipes, equals,
 * backslashes, line breaks, control bytes, non-ASCII) parsed back by an independent reading of
 * the rules; RFC 5424 header limits, structured-data escaping and byte-counted framing; the
 * required fields of OCSF Detection Finding and the ECS alert document.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/alerts.js';
import { cefHeader, cefValue, toCef } from '../src/format-cef.js';
import { defaultFormatOptions } from '../src/format-common.js';
import { toEcs } from '../src/format-ecs.js';
import { toOcsf } from '../src/format-ocsf.js';
import { defaultSyslogOptions, headerField, octetFrame, sdValue, syslogMessage } from '../src/format-syslog.js';
import { formatAlert } from '../src/sinks.js';

const HOSTILE = 'a|b=c\\d\ne\rf\u0000g ünï ✓ key=value cs1=x |CEF:0|';

function alert(over: Partial<Alert> = {}): Alert {
  return {
    schema: 'chainwatch.alert/v1', id: 'a'.repeat(32), kind: 'call', time: '2026-06-01T10:00:00.000Z', severity: 'critical', score: 0.93,
    title: 'Denied destination paste.io', summary: 'Denied destination paste.io — policy support allows never paste.io', signature: 'policy:support:destinations.deny',
    detectors: ['policy'], agent: { id: 'support-agent-01', name: 'support-agent', group: 'support-agent', phase: 'enforcing' }, principal: 'alice@corp.example',
    credential: 'key_7f3a', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanIds: ['00f067aa0ba902b7'],
    call: { action: 'POST paste.io/api/{ver}/pastes', tool: 'upload', host: 'paste.io', url: 'https://paste.io/api/v1/pastes' },
    chain: { calls: 2, startTime: '2026-06-01T09:59:59.000Z', durationMs: 1000 },
    evidence: [{ detector: 'policy', score: 0.93, title: 'Denied destination', reason: 'never paste.io', expected: 'never paste.io', observed: 'paste.io', spanIds: ['00f067aa0ba902b7'] }],
    killSwitch: true, count: 1, firstSeen: '2026-06-01T10:00:00.000Z', lastSeen: '2026-06-01T10:00:00.000Z', traceIds: ['4bf92f3577b34da6a3ce929d0e0e4736'],
    ...over,
  };
}

/** An independent CEF reader: split the header on unescaped pipes, the extension on ` key=`. */
function parseCef(line: string): { header: string[]; ext: Record<string, string> } {
  const header: string[] = [];
  let cur = '';
  let i = 0;
  for (; i < line.length && header.length < 7; i++) {
    const ch = line[i];
    if (ch === '\\' && (line[i + 1] === '|' || line[i + 1] === '\\')) cur += line[++i];
    else if (ch === '|') {
      header.push(cur);
      cur = '';
    } else cur += ch;
  }
  const rest = line.slice(i);
  const ext: Record<string, string> = {};
  // A key is a token after a space followed by an unescaped `=`; values unescape \= \\ \n \r.
  const keys = [...rest.matchAll(/(?:^| )([A-Za-z0-9]+)=/g)];
  const positions: { key: string; start: number; valueStart: number }[] = [];
  for (const m of keys) {
    const eq = m.index + m[0].length - 1;
    let bs = 0;
    for (let j = eq - 1; j >= 0 && rest[j] === '\\'; j--) bs++;
    if (bs % 2 === 0) positions.push({ key: m[1], start: m.index, valueStart: eq + 1 });
  }
  for (let k = 0; k < positions.length; k++) {
    const end = k + 1 < positions.length ? positions[k + 1].start : rest.length;
    ext[positions[k].key] = rest.slice(positions[k].valueStart, end).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  }
  return { header, ext };
}

describe('CEF', () => {
  it('escapes header and extension differently', () => {
    expect(cefHeader('a|b\\c=d\ne')).toBe('a\\|b\\\\c=d e');
    expect(cefValue('a|b\\c=d\ne\rf')).toBe('a|b\\\\c\\=d\\ne\\rf');
    expect(cefValue('nul\u0000bell\u0007')).toBe('nul bell ');
  });

  it('survives hostile values in every field it writes', () => {
    const a = alert({ title: HOSTILE, summary: HOSTILE, agent: { id: HOSTILE, group: 'g', phase: 'learning' }, credential: HOSTILE });
    const line = toCef(a, { ...defaultFormatOptions, vendor: 'Ex|ample\\Co', linkTemplate: 'https://ui.example/trace/{traceId}' });
    expect(line).not.toMatch(/[\n\r\u0000]/);
    const { header, ext } = parseCef(line);
    expect(header).toEqual(['CEF:0', 'Ex|ample\\Co', 'chainwatch', '0.1.0', 'detector.policy', HOSTILE.replace(/[\n\r\u0000]/g, ' '), '10']);
    expect(ext.msg).toBe(HOSTILE.replace('\u0000', ' '));
    expect(ext.suser).toBe(HOSTILE.replace('\u0000', ' '));
    expect(ext.cs3).toBe(HOSTILE.replace('\u0000', ' '));
    expect(ext.cs1).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(ext.cs4).toBe('https://ui.example/trace/4bf92f3577b34da6a3ce929d0e0e4736');
    expect(ext.rt).toBe(String(Date.parse('2026-06-01T10:00:00.000Z')));
    expect(ext.act).toBe('kill-switch');
  });
});

describe('RFC 5424 syslog', () => {
  it('keeps header fields printable ASCII within their limits', () => {
    expect(headerField('my host ü\n', 255)).toBe('myhost');
    expect(headerField('', 48)).toBe('-');
    expect(headerField('x'.repeat(60), 48)).toHaveLength(48);
  });

  it('escapes structured data and counts frame length in UTF-8 bytes', () => {
    expect(sdValue('a "quoted" \\ ] bracket')).toBe('a \\"quoted\\" \\\\ \\] bracket');
    const a = alert({ agent: { id: 'agent "x"]', group: 'g', phase: 'enforcing' } });
    const msg = syslogMessage(a, 'ünïcødé ✓', { ...defaultSyslogOptions, hostname: 'det 1' });
    expect(msg).toMatch(/^<82>1 \d{4}-\d\d-\d\dT[\d:.]+Z det1 chainwatch \d+ ALERT \[chainwatch@32473 alert="a{32}" severity="critical" agent="agent \\"x\\"\\]" trace="4bf92f3577b34da6a3ce929d0e0e4736"/);
    expect(msg.endsWith(' \uFEFFünïcødé ✓')).toBe(true);
    const frame = octetFrame(msg);
    const space = frame.indexOf(0x20);
    expect(Number(frame.subarray(0, space).toString())).toBe(frame.length - space - 1);
    expect(Number(frame.subarray(0, space).toString())).toBeGreaterThan(msg.length);
  });
});

describe('OCSF and ECS', () => {
  it('builds an OCSF 1.8.0 Detection Finding with the required fields', () => {
    const o = toOcsf(alert(), { ...defaultFormatOptions, linkTemplate: 'https://ui.example/t/{traceId}' }) as any;
    expect(o).toMatchObject({ class_uid: 2004, category_uid: 2, activity_id: 1, type_uid: 200401, severity_id: 5, time: Date.parse('2026-06-01T10:00:00.000Z'), metadata: { version: '1.8.0', product: { name: 'chainwatch' } } });
    expect(o.finding_info).toMatchObject({ uid: 'a'.repeat(32), title: 'Denied destination paste.io', src_url: 'https://ui.example/t/4bf92f3577b34da6a3ce929d0e0e4736' });
    expect(o.evidences[0]).toMatchObject({ actor: { user: { uid: 'alice@corp.example', credential_uid: 'key_7f3a' } }, dst_endpoint: { hostname: 'paste.io' }, data: { expected: 'never paste.io' } });
    expect(o.observables).toEqual(expect.arrayContaining([{ name: 'trace_id', type_id: 10, value: '4bf92f3577b34da6a3ce929d0e0e4736' }, { name: 'span_id', type_id: 10, value: '00f067aa0ba902b7' }]));
    expect((toOcsf(alert({ update: true }), defaultFormatOptions) as any).type_uid).toBe(200402);
  });

  it('builds an ECS alert document', () => {
    const e = toEcs(alert(), defaultFormatOptions) as any;
    expect(e).toMatchObject({ '@timestamp': '2026-06-01T10:00:00.000Z', event: { kind: 'alert', category: ['api', 'iam'], id: 'a'.repeat(32) }, trace: { id: '4bf92f3577b34da6a3ce929d0e0e4736' }, span: { id: '00f067aa0ba902b7' } });
    expect(e.user).toEqual({ id: 'support-agent-01', effective: { id: 'alice@corp.example' } });
    expect(e.labels.credential_id).toBe('key_7f3a');
    expect(e.chainwatch.evidence[0].observed).toBe('paste.io');
  });

  it('adds the trace link to native JSON', () => {
    expect(formatAlert(alert(), 'json', { ...defaultFormatOptions, linkTemplate: 'https://ui/{traceId}/{spanId}' })).toMatchObject({ traceLink: 'https://ui/4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7' });
  });
});
