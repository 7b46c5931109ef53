/**
 * Where a running service's alerts go. Its sinks get them: alerts raised long after start (the
 * sinks' loops have ticked idle many times by then) reach them while it runs, and every alert
 * raised is in the sink once the service has stopped. Its alerts file, when it cannot be written,
 * holds nothing up: requests are answered, the alerts wait and are written once it can be.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../src/alerts.js';
import { defaultFormatOptions } from '../src/format-common.js';
import { Service } from '../src/service.js';
import { FileSink } from '../src/sinks.js';
import { postLookup } from './helpers/spans.js';
import { until } from './helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-service-sinks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

describe('service sinks', () => {
  it('sends alerts raised well after start to every sink, and all of them by the time it stops', async () => {
    const ocsf = join(dir, 'alerts.ocsf.jsonl');
    const cef = join(dir, 'alerts.cef');
    const alerts: Alert[] = [];
    const service = new Service({
      stateDir: join(dir, 'state'), receiver: { port: 0 }, onAlert: (a) => alerts.push(a),
      sinks: [new FileSink(ocsf, 'ocsf', defaultFormatOptions), new FileSink(cef, 'cef', defaultFormatOptions)],
    });
    const url = `${await service.start()}/v1/traces`;
    const post = async (agentId: string, t0: number): Promise<void> => {
      expect(await postLookup(url, agentId, t0)).toBe(200);
    };
    try {
      // Past several of the sinks' flush ticks (200 ms) with nothing to send, as in any real start.
      await new Promise((r) => setTimeout(r, 700));
      let t = Date.UTC(2026, 5, 1, 10);
      await post('owner-agent', t); // first to use the key: owns it
      await post('borrower-agent', (t += 60_000)); // credential misuse: an alert
      await until(() => alerts.length > 0, 10_000);
      await until(() => lines(ocsf).length > 0 && lines(cef).length > 0, 10_000);
      const finding = JSON.parse(lines(ocsf)[0]) as { class_uid: number; finding_info: { uid: string } };
      expect(finding.class_uid).toBe(2004);
      expect(finding.finding_info.uid).toBe(alerts[0].id);
      expect(lines(cef)[0]).toMatch(/^CEF:0\|chainwatch\|chainwatch\|/);
      await post('borrower-agent', (t += 60_000));
    } finally {
      await service.stop();
    }
    // Every alert and update the service raised, in each sink.
    expect(alerts.length).toBeGreaterThan(0);
    expect(lines(ocsf)).toHaveLength(alerts.length);
    expect(lines(cef)).toHaveLength(alerts.length);
    expect(service.sinks.map((s) => s.counters)).toEqual([0, 1].map(() => expect.objectContaining({ sent: alerts.length, dropped: 0, queued: 0 })));
  }, 30_000);

  it('answers requests while its alerts file cannot be written, holds Kafka commits back, and writes the alerts once it can', async () => {
    const out = join(dir, 'out');
    const file = join(out, 'alerts.jsonl');
    const alerts: Alert[] = [];
    const logged: string[] = [];
    const log = { info: (_o: object, m: string) => logged.push(m), warn: (_o: object, m: string) => logged.push(m), error: (_o: object, m: string) => logged.push(m) };
    const service = new Service({ stateDir: join(dir, 'state2'), alertsFile: file, receiver: { port: 0 }, onAlert: (a) => alerts.push(a), log });
    const url = `${await service.start()}/v1/traces`;
    const post = (agentId: string, t0: number): Promise<number> => postLookup(url, agentId, t0);
    try {
      rmSync(out, { recursive: true, force: true });
      writeFileSync(out, 'in the way'); // as a full disk: every append fails
      let t = Date.UTC(2026, 5, 1, 10);
      expect(await post('owner-agent', t)).toBe(200);
      expect(await post('borrower-agent', (t += 60_000))).toBe(200);
      await until(() => alerts.length > 0, 10_000);
      await until(() => logged.some((m) => m.startsWith('cannot write the alerts file')), 5_000);
      const status = (): { pending: number; written: number } => (service.status() as { alertsFile: { pending: number; written: number } }).alertsFile;
      expect(status().pending).toBe(alerts.length);
      await expect(service.durable()).rejects.toThrow(/the alerts file .* cannot be written .*offsets are not committed/);
      rmSync(out);
      mkdirSync(out);
      await until(() => status().pending === 0, 5_000);
      expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as Alert).id)).toEqual(alerts.map((a) => a.id));
      expect(logged).toContain('alerts file written again');
      await expect(service.durable()).resolves.toBeUndefined();
    } finally {
      await service.stop();
    }
  }, 30_000);

  it('logs a sink that cannot deliver, keeps its alerts, and logs when it delivers again', async () => {
    const blocked = join(dir, 'blocked');
    writeFileSync(blocked, 'in the way'); // the sink's directory is a file: every append fails
    const file = join(blocked, 'alerts.cef');
    const alerts: Alert[] = [];
    const logged: string[] = [];
    const log = { info: (_o: object, m: string) => logged.push(m), warn: (_o: object, m: string) => logged.push(m), error: (_o: object, m: string) => logged.push(m) };
    const service = new Service({ stateDir: join(dir, 'state3'), receiver: { port: 0 }, onAlert: (a) => alerts.push(a), log, sinks: [new FileSink(file, 'cef', defaultFormatOptions)] });
    const url = `${await service.start()}/v1/traces`;
    try {
      let t = Date.UTC(2026, 5, 1, 10);
      expect(await postLookup(url, 'owner-agent', t)).toBe(200);
      expect(await postLookup(url, 'borrower-agent', (t += 60_000))).toBe(200);
      await until(() => logged.some((m) => m.startsWith(`sink file ${file}: cannot deliver, retrying (alerts wait in its queue): ENOTDIR`)), 10_000);
      rmSync(blocked);
      mkdirSync(blocked);
      await until(() => logged.includes(`sink file ${file}: delivering again`), 15_000);
      expect(lines(file)).toHaveLength(alerts.length);
      expect(service.sinks[0].counters).toMatchObject({ dropped: 0, queued: 0, sent: alerts.length });
    } finally {
      await service.stop();
    }
  }, 30_000);
});
