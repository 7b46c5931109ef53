/**
 * The Elasticsearch sink against an HTTP server that answers `_bulk` as Elasticsearch documents it
 * (a status per document; 409 for a `create` whose `_id` exists; 429 when a node is busy) — there is
 * no Elasticsearch on this machine to run. What a SOC relies on: every alert indexed once though a
 * batch is sent again, as ECS with the API key; one its mapping refuses is dropped and said, not
 * retried for ever in front of the others.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { Alert } from '../src/alerts.js';
import { defaultFormatOptions } from '../src/format-common.js';
import { ElasticsearchSink } from '../src/sink-elasticsearch.js';
import { SinkRunner, type SinkTrouble } from '../src/sinks.js';

const indexed = new Map<string, Record<string, any>>();
const requests: { path: string; auth?: string; type?: string }[] = [];
let busyOnce = true;
let server: Server;
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
      requests.push({ path: req.url!, auth: req.headers.authorization, type: req.headers['content-type'] });
      const lines = body.split('\n').filter((l) => l !== '');
      const items: object[] = [];
      for (let i = 0; i < lines.length; i += 2) {
        const id = JSON.parse(lines[i]).create._id as string;
        const doc = JSON.parse(lines[i + 1]);
        let status = 201;
        let error: object | undefined;
        if (indexed.has(id)) [status, error] = [409, { type: 'version_conflict_engine_exception', reason: `[${id}]: version conflict, document already exists` }];
        else if (String(doc.message).includes('unmappable')) [status, error] = [400, { type: 'document_parsing_exception', reason: 'failed to parse field [message]' }];
        else if (busyOnce && i === 2) {
          busyOnce = false;
          [status, error] = [429, { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation' }];
        } else indexed.set(id, doc);
        items.push({ create: { _index: '.ds-logs-chainwatch.alerts-default-000001', _id: id, status, ...(error ? { error } : {}) } });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ took: 3, errors: items.some((i: any) => i.create.status >= 300), items }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => server.close());

function alert(i: number, summary = `summary ${i}`): Alert {
  const id = i.toString(16).padStart(32, '0');
  return {
    schema: 'chainwatch.alert/v1', id, kind: 'call', time: new Date(Date.UTC(2026, 5, 1, 10, i)).toISOString(), severity: 'high', score: 0.8, title: `Alert ${i}`, summary,
    signature: 'new-destination:x', detectors: ['new-destination'], agent: { id: `agent-${i}`, group: 'g', phase: 'enforcing' }, traceId: id, spanIds: ['00000000000000a1'],
    chain: { calls: 1, startTime: '2026-06-01T10:00:00.000Z', durationMs: 0 }, evidence: [{ detector: 'new-destination', score: 0.8, title: 't', reason: 'r', expected: 'e', observed: 'o', spanIds: [] }],
    count: 1, firstSeen: '2026-06-01T10:00:00.000Z', lastSeen: '2026-06-01T10:00:00.000Z', traceIds: [id],
  } as Alert;
}

describe('Elasticsearch sink', () => {
  it('indexes every alert once as ECS, sending a batch again for a busy node without doubling; a document its mapping refuses is dropped and said', async () => {
    const sink = new ElasticsearchSink({ url: `${url}/`, index: 'logs-chainwatch.alerts-default', apiKey: 'aWQ6a2V5', format: 'ecs', timeoutMs: 5000 }, defaultFormatOptions);
    const runner = new SinkRunner(sink, { maxQueue: 100, batch: 10, flushMs: 10_000, maxAttempts: 3, backoffMs: 5, maxBackoffMs: 20 });
    const told: SinkTrouble[] = [];
    runner.onTrouble = (e) => told.push(e);
    const alerts = [alert(1), alert(2), alert(3), alert(4, 'an unmappable summary'), alert(5)];
    // A rollup update of alert 1: a document of its own.
    const update = { ...alert(1), count: 3 } as Alert;
    for (const a of [...alerts, update]) runner.offer(a);
    await runner.close();

    expect(requests.length).toBe(2); // the batch again, after a 429 on one document
    expect(requests[0]).toEqual({ path: '/logs-chainwatch.alerts-default/_bulk', auth: 'ApiKey aWQ6a2V5', type: 'application/x-ndjson' });
    expect([...indexed.keys()].sort()).toEqual([`${alert(1).id}-1`, `${alert(1).id}-3`, `${alert(2).id}-1`, `${alert(3).id}-1`, `${alert(5).id}-1`].sort());
    const doc = indexed.get(`${alert(2).id}-1`)!;
    expect(doc).toMatchObject({ '@timestamp': alert(2).time, event: { kind: 'alert', id: alert(2).id }, trace: { id: alert(2).traceId } });
    expect(told.map((e) => e.kind)).toEqual(['failing', 'recovered', 'refused']);
    expect(told[0]).toMatchObject({ err: expect.stringMatching(/^Elasticsearch took 5 of 6 alerts; 1 to send again: 429 es_rejected_execution_exception/) });
    expect(told[2]).toEqual({ kind: 'refused', err: '400 document_parsing_exception: failed to parse field [message]', alerts: [alert(4).id] });
    expect(runner.counters).toMatchObject({ sent: 5, dropped: 1, queued: 0 });
  });
});
