/**
 * The development broker (deploy/kafka.sh: Apache Kafka 3.9.1 fetched with mvn, single-node
 * KRaft on loopback) with kafkajs: an OTLP protobuf batch written as the Collector's Kafka
 * exporter writes it (topic otlp_spans, key = trace id hex, gzip) comes back byte-identical and
 * decodes to the same spans. The foundation for the Kafka stages of issue 4.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { KeyFilter, defaultMapping } from '../src/attribute-map.js';
import { decodeTraceRequest } from '../src/otlp-proto.js';
import type { Alert } from '../src/alerts.js';
import { defaultFormatOptions } from '../src/format-common.js';
import { KafkaSink } from '../src/sink-kafka.js';

const script = fileURLToPath(new URL('../deploy/kafka.sh', import.meta.url));
const port = 19092;
const env = { ...process.env, KAFKA_DIR: mkdtempSync(join(tmpdir(), 'chainwatch-kafka-')), KAFKA_PORT: String(port) };
const root = protobuf.loadSync(fileURLToPath(new URL('../schemas/otlp/trace.proto', import.meta.url)));
const Request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

beforeAll(() => {
  execFileSync('bash', [script, 'start'], { env, stdio: 'pipe', timeout: 180_000 });
}, 200_000);

afterAll(() => {
  execFileSync('bash', [script, 'stop'], { env, stdio: 'pipe', timeout: 60_000 });
  rmSync(env.KAFKA_DIR, { recursive: true, force: true });
}, 70_000);

describe('development Kafka broker', () => {
  it('carries a Collector-format OTLP batch through a real broker', async () => {
    const traceId = Buffer.from('4bf92f3577b34da6a3ce929d0e0e4736', 'hex');
    const body = Request.encode(Request.fromObject({
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'support-svc' } }] },
        scopeSpans: [{ spans: [{ traceId, spanId: Buffer.from('00f067aa0ba902b7', 'hex'), name: 'invoke_agent', kind: 1, attributes: [{ key: 'gen_ai.agent.id', value: { stringValue: 'agt-42' } }] }] }],
      }],
    })).finish();
    const kafka = new Kafka({ clientId: 'chainwatch-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    const producer = kafka.producer();
    const consumer = kafka.consumer({ groupId: 'chainwatch-test' });
    try {
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'otlp_spans', numPartitions: 4 }], waitForLeaders: true });
      await producer.connect();
      await producer.send({ topic: 'otlp_spans', compression: CompressionTypes.GZIP, messages: [{ key: traceId.toString('hex'), value: Buffer.from(body) }] });
      await consumer.connect();
      await consumer.subscribe({ topic: 'otlp_spans', fromBeginning: true });
      const got = await new Promise<{ key: string; value: Buffer }>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve({ key: String(message.key), value: message.value! }) });
      });
      expect(got.key).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(got.value.equals(Buffer.from(body))).toBe(true);
      const filter = KeyFilter.forMapping(defaultMapping);
      const { spans } = decodeTraceRequest(got.value, filter);
      expect(spans.map((s) => [s.traceId, s.spanId, s.attrs.get(filter.index('gen_ai.agent.id'))])).toEqual([['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 'agt-42']]);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    }
  }, 60_000);

  it('carries alerts to the alerts topic, keyed by agent, in the chosen format', async () => {
    const alert = (i: number): Alert => ({
      schema: 'chainwatch.alert/v1', id: String(i).padStart(32, '0'), kind: 'call', time: '2026-06-01T10:00:00.000Z', severity: 'high', score: 0.8, title: `alert ${i}`,
      summary: 's', signature: 'x', detectors: ['new-destination'], agent: { id: `agent-${i}`, group: 'g', phase: 'enforcing' }, traceId: 'ab'.repeat(16), spanIds: ['cd'.repeat(8)],
      chain: { calls: 1, startTime: '2026-06-01T10:00:00.000Z', durationMs: 0 }, evidence: [], count: 1, firstSeen: '2026-06-01T10:00:00.000Z', lastSeen: '2026-06-01T10:00:00.000Z', traceIds: ['ab'.repeat(16)],
    });
    const sink = new KafkaSink({ brokers: [`127.0.0.1:${port}`], topic: 'chainwatch_alerts', format: 'ocsf', clientId: 'chainwatch-test' }, defaultFormatOptions);
    await sink.send([alert(1), alert(2)]);
    await sink.close();
    const consumer = new Kafka({ clientId: 'chainwatch-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING }).consumer({ groupId: 'chainwatch-alerts-test' });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: 'chainwatch_alerts', fromBeginning: true });
      const got: { key: string; value: any; id: string }[] = [];
      await new Promise<void>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => {
          got.push({ key: String(message.key), value: JSON.parse(String(message.value)), id: String(message.headers?.['chainwatch-alert-id']) });
          if (got.length === 2) resolve();
        } });
      });
      got.sort((a, b) => a.key.localeCompare(b.key));
      expect(got.map((g) => [g.key, g.id, g.value.class_uid, g.value.finding_info.uid])).toEqual([
        ['agent-1', alert(1).id, 2004, alert(1).id], ['agent-2', alert(2).id, 2004, alert(2).id],
      ]);
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);
});
