/**
 * A running service's sinks get its alerts: alerts raised long after start (the sinks' loops
 * have ticked idle many times by then) reach them while it runs, and every alert raised is in
 * the sink once the service has stopped.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../src/alerts.js';
import { defaultFormatOptions } from '../src/format-common.js';
import { Service } from '../src/service.js';
import { FileSink } from '../src/sinks.js';
import { agentTrace } from './helpers/spans.js';
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
      const { doc } = agentTrace({ t0, agentId, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7', credential: 'shared-key' }] });
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
      expect(res.status).toBe(200);
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
});
