/**
 * Alert sinks against real receivers: rsyslog (Debian's package) takes CEF in RFC 5424 over TCP
 * with octet counting and writes what it parsed; a TLS syslog listener with a certificate made
 * by openssl; a Splunk HEC endpoint checking the token and the concatenated-event envelope; a
 * webhook whose signatures verify with the independent `standardwebhooks` package.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import type { Alert } from '../src/alerts.js';
import { defaultFormatOptions } from '../src/format-common.js';
import { defaultSyslogOptions } from '../src/format-syslog.js';
import { HecSink, WebhookSink } from '../src/sink-http.js';
import { SyslogSink } from '../src/sink-syslog.js';
import { SinkRunner } from '../src/sinks.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-sinks-'));
const rsyslog = fileURLToPath(new URL('../deploy/rsyslog.sh', import.meta.url));
const HOSTILE = 'pipe| equals= back\\slash new\nline ünïcødé ✓ cs1=fake';
const o = { ...defaultFormatOptions, linkTemplate: 'https://traces.example/trace/{traceId}' };

function alert(i: number, over: Partial<Alert> = {}): Alert {
  const id = i.toString(16).padStart(32, '0');
  return {
    schema: 'chainwatch.alert/v1', id, kind: 'call', time: new Date(Date.UTC(2026, 5, 1, 10, i)).toISOString(), severity: 'high', score: 0.8,
    title: `Alert ${i} ${HOSTILE}`, summary: `summary ${i}: ${HOSTILE}`, signature: 'new-destination:x', detectors: ['new-destination'],
    agent: { id: `agent-${i}`, group: 'g', phase: 'enforcing' }, credential: `key_${i}`, traceId: id, spanIds: [`${i.toString(16).padStart(16, '0')}`],
    chain: { calls: 1, startTime: '2026-06-01T10:00:00.000Z', durationMs: 0 },
    evidence: [{ detector: 'new-destination', score: 0.8, title: 't', reason: 'r', expected: `expected ${HOSTILE}`, observed: 'o', spanIds: [] }],
    count: 1, firstSeen: '2026-06-01T10:00:00.000Z', lastSeen: '2026-06-01T10:00:00.000Z', traceIds: [id], ...over,
  };
}

/** CEF extension value of `key` (unescaping \= \\ \n \r), read the way a SIEM parser reads it. */
function cefExt(line: string, key: string): string | undefined {
  // The extension starts after the 7th unescaped pipe of the header.
  let pipes = 0;
  let i = 0;
  for (; i < line.length && pipes < 7; i++) {
    if (line[i] === '\\') i++;
    else if (line[i] === '|') pipes++;
  }
  const m = new RegExp(`(?:^| )${key}=((?:\\\\.|[^\\\\])*?)(?= [A-Za-z0-9]+=|$)`).exec(line.slice(i));
  return m?.[1].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}

/** An HTTP receiver answering what `handle` says: a status, or a status with headers. */
async function httpReceiver(handle: (req: IncomingMessage, body: string) => number | [number, Record<string, string>]): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const answer = handle(req, body);
      const [status, headers] = typeof answer === 'number' ? [answer, {}] : answer;
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(status < 300 ? '{"text":"Success","code":0}' : '{"text":"Invalid token","code":4}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

beforeAll(() => {
  execFileSync('bash', [rsyslog, 'start', join(dir, 'rsyslog'), '15515'], { stdio: 'pipe', timeout: 20_000 });
}, 30_000);
afterAll(() => {
  execFileSync('bash', [rsyslog, 'stop', join(dir, 'rsyslog')], { stdio: 'pipe', timeout: 20_000 });
  rmSync(dir, { recursive: true, force: true });
});

describe('syslog sink', () => {
  it('delivers CEF in RFC 5424 over TCP to rsyslog, hostile values intact', async () => {
    const runner = new SinkRunner(new SyslogSink({ host: '127.0.0.1', port: 15515, format: 'cef', syslog: defaultSyslogOptions, timeoutMs: 5000 }, o));
    const alerts = [1, 2, 3].map((i) => alert(i));
    for (const a of alerts) runner.offer(a);
    await runner.close();
    const file = join(dir, 'rsyslog', 'messages');
    const end = Date.now() + 10_000;
    while ((!existsSync(file) || readFileSync(file, 'utf8').trim().split('\n').length < 3) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => l.replace(/^\uFEFF/, ''));
    expect(lines).toHaveLength(3);
    expect(runner.counters).toMatchObject({ sent: 3, dropped: 0 });
    lines.forEach((line, i) => {
      const a = alerts[i];
      expect(line.startsWith(`CEF:0|chainwatch|chainwatch|0.1.0|detector.new-destination|Alert ${i + 1} pipe\\| equals= back\\\\slash new line ünïcødé ✓ cs1=fake|8|`)).toBe(true);
      expect(cefExt(line, 'msg')).toBe(a.summary);
      expect(cefExt(line, 'cs6')).toBe(a.evidence[0].expected);
      expect(cefExt(line, 'cs1')).toBe(a.traceId);
      expect(cefExt(line, 'cs2')).toBe(a.spanIds[0]);
      expect(cefExt(line, 'cs4')).toBe(`https://traces.example/trace/${a.traceId}`);
      expect(cefExt(line, 'suser')).toBe(a.agent.id);
    });
  });

  it('delivers over TLS with octet counting', async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'pipe' });
    const frames: string[] = [];
    let buf = Buffer.alloc(0);
    const server = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (sock) => {
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const sp = buf.indexOf(0x20);
          if (sp < 0) break;
          const len = Number(buf.subarray(0, sp).toString());
          if (buf.length < sp + 1 + len) break;
          frames.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
          buf = buf.subarray(sp + 1 + len);
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const sink = new SyslogSink({ host: '127.0.0.1', port, format: 'json', syslog: defaultSyslogOptions, timeoutMs: 5000, tls: { ca: readFileSync(cert, 'utf8'), rejectUnauthorized: true, servername: 'localhost' } }, o);
    await sink.send([alert(7), alert(8)]);
    const end = Date.now() + 5000;
    while (frames.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    await sink.close();
    server.close();
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatch(/^<83>1 .* chainwatch \d+ ALERT \[chainwatch@32473 alert="0{31}7"/);
    const json = JSON.parse(frames[1].slice(frames[1].indexOf('\uFEFF') + 1));
    expect(json).toMatchObject({ id: alert(8).id, title: alert(8).title, traceLink: `https://traces.example/trace/${alert(8).traceId}` });
  });
});

describe('HTTP sinks', () => {
  it('sends Splunk HEC envelopes: token, concatenated events, seconds, flat fields', async () => {
    const got: { auth?: string; body: string }[] = [];
    const { server, url } = await httpReceiver((req, body) => {
      got.push({ auth: req.headers.authorization, body });
      return req.headers.authorization === 'Splunk 11111111-2222-3333-4444-555555555555' ? 200 : 403;
    });
    const sink = new HecSink({ url: `${url}/services/collector/event`, token: '11111111-2222-3333-4444-555555555555', format: 'ocsf', index: 'security', sourcetype: '_json', timeoutMs: 5000 }, o);
    await sink.send([alert(1), alert(2)]);
    await expect(new HecSink({ url: `${url}/services/collector/event`, token: 'wrong', format: 'json', sourcetype: '_json', timeoutMs: 5000 }, o).send([alert(3)])).rejects.toThrow(/^HTTP 403: .* — the receiver refused the credentials sent, or what they allow: check the secret the sink's settings name/);
    server.close();
    expect(got[0].body.startsWith('[')).toBe(false);
    const events = got[0].body.split('\n').map((l) => JSON.parse(l));
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ time: Date.parse(alert(1).time) / 1000, source: 'chainwatch', sourcetype: '_json', index: 'security', fields: { alert_id: alert(1).id, agent_id: 'agent-1', severity: 'high' } });
    expect(Object.values(events[0].fields).every((v) => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')))).toBe(true);
    expect(events[1].event).toMatchObject({ class_uid: 2004, finding_info: { uid: alert(2).id, src_url: `https://traces.example/trace/${alert(2).traceId}` } });
  });

  it('signs webhook batches so an independent Standard Webhooks verifier accepts them', async () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const got: { headers: Record<string, string>; body: string }[] = [];
    const { server, url } = await httpReceiver((req, body) => {
      got.push({ headers: req.headers as Record<string, string>, body });
      return 204;
    });
    const { webhookKey } = await import('../src/webhook-sign.js');
    await new WebhookSink({ url, format: 'ecs', headers: {}, signingKey: webhookKey(secret, 'test'), timeoutMs: 5000 }, o).send([alert(4)]);
    server.close();
    const verified = new Webhook(secret).verify(got[0].body, got[0].headers) as any[];
    expect(verified[0]).toMatchObject({ event: { kind: 'alert', id: alert(4).id }, trace: { id: alert(4).traceId } });
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 8).toString('base64')}`).verify(got[0].body, got[0].headers)).toThrow();
  });

  it('waits as long as a busy receiver asks (Retry-After) before sending again, not past the longest backoff', async () => {
    const at: number[] = [];
    const { server, url } = await httpReceiver(() => {
      at.push(Date.now());
      return at.length === 1 ? [503, { 'retry-after': '1' }] : at.length === 2 ? [429, { 'retry-after': '3600' }] : 204;
    });
    const runner = new SinkRunner(new WebhookSink({ url, format: 'json', headers: {}, timeoutMs: 5000 }, o), { maxQueue: 100, batch: 10, flushMs: 10_000, maxAttempts: 3, backoffMs: 10, maxBackoffMs: 2_000 });
    runner.offer(alert(1));
    await runner.pump();
    await runner.close();
    server.close();
    expect(runner.counters).toMatchObject({ sent: 1, failedAttempts: 2, dropped: 0 });
    // The backoff alone (10 ms, doubling) would have sent again at once; the hour asked is cut to the longest backoff.
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(950);
    expect(at[2] - at[1]).toBeGreaterThanOrEqual(1_950);
    expect(at[2] - at[1]).toBeLessThan(3_000);
  });

  it('gets a backlog through a receiver that refuses large bodies (413): smaller batches, in order; an alert too large alone dropped and counted', async () => {
    const LIMIT = 30_000; // a proxy's body limit, a few alerts' worth
    const delivered: string[] = [];
    const { server, url } = await httpReceiver((_req, body) => {
      if (Buffer.byteLength(body) > LIMIT) return 413;
      for (const a of JSON.parse(body) as { event: { id: string } }[]) delivered.push(a.event.id);
      return 204;
    });
    const runner = new SinkRunner(new WebhookSink({ url, format: 'ecs', headers: {}, timeoutMs: 5000 }, o), { maxQueue: 1000, batch: 100, flushMs: 10_000, maxAttempts: 3, backoffMs: 10, maxBackoffMs: 50 });
    const told: string[] = [];
    runner.onTrouble = (e) => told.push(e.kind === 'smaller-batches' ? `${e.refused} → ${e.batch}` : e.kind === 'too-large' ? `dropped ${e.alert}` : e.kind);
    const backlog = Array.from({ length: 60 }, (_, i) => (i === 25 ? alert(i, { summary: 'x'.repeat(LIMIT) }) : alert(i)));
    for (const a of backlog) runner.offer(a);
    await runner.close();
    server.close();
    expect(delivered).toEqual(backlog.filter((_, i) => i !== 25).map((a) => a.id));
    expect(told[0]).toBe('60 → 30');
    expect(told).toContain(`dropped ${alert(25).id}`);
    expect(told).not.toContain('failing');
    expect(runner.counters).toMatchObject({ sent: 59, dropped: 1, queued: 0 });
  });
});
