/**
 * The development broker (deploy/kafka.sh: Apache Kafka 3.9.1 fetched with mvn, single-node
 * KRaft on loopback) with kafkajs: an OTLP protobuf batch written as the Collector's Kafka
 * exporter writes it comes back byte-identical; the alerts sink writes to a topic (in smaller batches
 * where the topic refuses one as too large); and the two
 * stages (ingest: otlp_spans → calls topic; detect: calls → engine) running in `serve` give the
 * same alerts as OTLP/HTTP for the same spans — otlp_proto and otlp_json records, keys trace id
 * or null, gzip/snappy/lz4/zstd batches — while poison records go to the dead-letter topic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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
import { SinkRunner } from '../src/sinks.js';
import { registerKafkaCodecs } from '../src/kafka-codecs.js';
import { Service } from '../src/service.js';
import { LagProbe } from '../src/kafka-lag.js';
import { decodeCalls } from '../src/call-wire.js';
import { KafkaIngest } from '../src/kafka-ingest.js';
import { defaultEngineConfig } from '../src/engine.js';
import { kafkaConfig } from '../src/config.js';
import { simulate } from '../src/simulate.js';
import { decodeTraceRequestJson } from '../src/otlp-json.js';
import { agentTrace, toProto } from './helpers/spans.js';
import { until } from './helpers/until.js';

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
        scopeSpans: [{ spans: [{ traceId, spanId: Buffer.from('00f067aa0ba902b7', 'hex'), name: 'invoke_agent', kind: 1, startTimeUnixNano: '1780000000000000000', endTimeUnixNano: '1780000000100000000', attributes: [{ key: 'gen_ai.agent.id', value: { stringValue: 'agt-42' } }] }] }],
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

  it('sends smaller batches to a topic that refuses a batch as too large, drops an alert too large alone, and delivers the rest in order', async () => {
    const brokers = [`127.0.0.1:${port}`];
    const admin = new Kafka({ clientId: 'chainwatch-test', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    // 8 KB at most a record batch, compressed: an alert here holds 2,000 hex digits of noise (~1.2 KB gzipped).
    await admin.createTopics({ topics: [{ topic: 'alerts_small', numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '8192' }] }], waitForLeaders: true });
    await admin.disconnect();
    const noise = (i: number, bytes: number): string => {
      let text = '';
      for (let k = 0; text.length < bytes; k++) text += createHash('sha256').update(`${i}/${k}`).digest('hex');
      return text.slice(0, bytes);
    };
    const alert = (i: number, summaryBytes = 2_000): Alert => ({
      schema: 'chainwatch.alert/v1', id: String(i).padStart(32, '0'), kind: 'call', time: '2026-06-01T10:00:00.000Z', severity: 'high', score: 0.8, title: `alert ${i}`,
      summary: noise(i, summaryBytes), signature: 'x', detectors: ['new-destination'], agent: { id: 'agent-1', group: 'g', phase: 'enforcing' }, traceId: 'ab'.repeat(16), spanIds: ['cd'.repeat(8)],
      chain: { calls: 1, startTime: '2026-06-01T10:00:00.000Z', durationMs: 0 }, evidence: [], count: 1, firstSeen: '2026-06-01T10:00:00.000Z', lastSeen: '2026-06-01T10:00:00.000Z', traceIds: ['ab'.repeat(16)],
    });
    const runner = new SinkRunner(new KafkaSink({ brokers, topic: 'alerts_small', format: 'json', clientId: 'chainwatch-test' }, defaultFormatOptions), { maxQueue: 1000, batch: 16, flushMs: 10_000, maxAttempts: 3, backoffMs: 10, maxBackoffMs: 50 });
    const told: string[] = [];
    runner.onTrouble = (e) => told.push(e.kind === 'smaller-batches' ? `${e.refused} → ${e.batch}` : e.kind === 'too-large' ? `dropped ${e.alert}` : e.kind);
    const backlog = Array.from({ length: 16 }, (_, i) => (i === 9 ? alert(i, 20_000) : alert(i)));
    for (const a of backlog) runner.offer(a);
    await runner.close();
    expect(told[0]).toBe('16 → 8');
    expect(told).toContain(`dropped ${alert(9).id}`);
    expect(told).not.toContain('failing');
    expect(runner.counters).toMatchObject({ sent: 15, dropped: 1, queued: 0 });
    const consumer = new Kafka({ clientId: 'chainwatch-test', brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: 'chainwatch-alerts-small' });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: 'alerts_small', fromBeginning: true });
      const got: string[] = [];
      await new Promise<void>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => {
          got.push(String(message.headers?.['chainwatch-alert-id']));
          if (got.length === 15) resolve();
        } });
      });
      expect(got).toEqual(backlog.filter((_, i) => i !== 9).map((a) => a.id));
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);

  it('runs both stages: Collector-format records give the same alerts as OTLP/HTTP; poison goes to the dead-letter topic', async () => {
    registerKafkaCodecs();
    const sim = simulate({ seed: 19, agentsPerRole: 2, historyDays: 3, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 10 });
    const topics = { spans: 'otlp_spans_e2e', calls: 'chainwatch_calls_e2e', dlq: 'otlp_spans_e2e_dlq' };
    const learned = (svc: Service): void => {
      svc.engine.mode = 'learn';
      for (const doc of sim.history) svc.engine.ingestSpans(decodeTraceRequestJson(doc, svc.engine.norm.filter).spans);
      svc.engine.flush();
      svc.engine.mode = 'detect';
    };
    const viaHttp: Alert[] = [];
    const viaKafka: Alert[] = [];
    const dirs = [mkdtempSync(join(tmpdir(), 'cw-http-')), mkdtempSync(join(tmpdir(), 'cw-kafka-'))];
    const http = new Service({ stateDir: dirs[0], receiver: { port: 0 }, onAlert: (a) => viaHttp.push(a) });
    const viaK = new Service({ stateDir: dirs[1], receiver: { port: 0 }, onAlert: (a) => viaKafka.push(a), kafka: kafkaConfig({ topics, group: 'e2e' }, [`127.0.0.1:${port}`]),
      telemetry: { prometheus: { enabled: true, host: '127.0.0.1', port: 0 }, otlp: { enabled: false, endpoint: '', intervalMs: 60_000, headers: {}, traces: false } } });
    learned(http);
    learned(viaK);
    // One partition each: the OTLP/HTTP run sees the spans in one order, so the Kafka run must too.
    // (Across partitions the order between agents is arbitrary by design, and order-sensitive
    // baselines may then differ in a few alerts.)
    const admin = new Kafka({ clientId: 'chainwatch-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: topics.spans, numPartitions: 1 }, { topic: topics.calls, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const url = `${await http.start()}/v1/traces`;
    await viaK.start();
    const producer = new Kafka({ clientId: 'collector', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING }).producer();
    // One request from two hosts: one whose exporter writes milliseconds where OTLP wants
    // nanoseconds (spans in 1970: had they been taken, its agent's history would span 56 years and
    // it would enforce at once), and one on time. Sent after the 24th live request on both paths.
    const onTime = Number(BigInt((sim.live[23] as any).resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano) / 1_000_000n);
    const tool = [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }];
    const behind = agentTrace({ t0: 1_800_000, agentId: 'slow-clock-agent', tools: tool }).doc as any;
    const punctual = agentTrace({ t0: onTime, agentId: 'punctual-agent', tools: tool }).doc as any;
    const mixed = { resourceSpans: [...behind.resourceSpans, ...punctual.resourceSpans] };
    try {
      for (const [i, doc] of sim.live.entries()) {
        expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) })).status).toBe(200);
        if (i === 23) expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(mixed) })).status).toBe(200);
      }
      http.engine.flush();
      await producer.connect();
      // From a host whose clock is a day ahead: rejected, counted and dead-lettered; had it moved
      // ingest's event time a day on, every open chain would have closed at once (alerts below).
      const ahead = agentTrace({ t0: Date.now() + 86_400_000, agentId: 'skewed-agent', tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }] }).doc;
      const codecs = [CompressionTypes.GZIP, CompressionTypes.Snappy, CompressionTypes.LZ4, CompressionTypes.ZSTD, CompressionTypes.None];
      let sent = 0;
      for (let i = 0; i < sim.live.length; i += 8) {
        const chunk = sim.live.slice(i, i + 8);
        // As the Collector's exporter writes them: otlp_proto by default, some otlp_json; key = trace id, or none.
        const messages = chunk.map((doc, j) => {
          const traceId = (doc as any).resourceSpans[0].scopeSpans[0].spans[0].traceId as string;
          return { key: j % 3 === 0 ? null : traceId, value: j % 4 === 3 ? JSON.stringify(doc) : Buffer.from(toProto(doc)) };
        });
        if (i === 16) messages.push({ key: null, value: Buffer.from('not an OTLP request') }, { key: 'x', value: '{"resourceSpans": 7}' }, { key: 'ahead', value: Buffer.from(toProto(ahead)) }, { key: 'mixed', value: Buffer.from(toProto(mixed)) });
        await producer.send({ topic: topics.spans, compression: codecs[(i / 8) % codecs.length], messages });
        sent += messages.length;
        // A damaged record on the calls topic: detect counts it and goes on.
        if (i === 16) await producer.send({ topic: topics.calls, messages: [{ key: 'some-agent', value: '{"t":"calls","s":[]}' }] });
      }
      await until(() => viaK.ingest!.counters.records === sent, 60_000);
      await viaK.ingest!.stop();
      const ingest = viaK.ingest!.counters;
      await until(() => viaK.detect!.counters.calls + viaK.detect!.counters.closes === ingest.calls + ingest.closes, 60_000);
      viaK.engine.flush();
      expect(ingest.deadLettered).toBe(4);
      expect(ingest).toMatchObject({ spansRejected: 6, spansSkewed: 3, spansTooOld: 3 });
      expect(viaK.engine.agents.has('slow-clock-agent')).toBe(false);
      expect(viaK.engine.agents.has('punctual-agent')).toBe(true);
      // Consumer lag, as the autoscaler reads it: zero once detect has committed everything.
      await until(async () => (await viaK.lag.get('detect')!.sample()).total === 0, 20_000);
      // A group that never read the spans topic lags by every record in it.
      const never = new LagProbe(new Kafka({ clientId: 'chainwatch-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING }), 'never-read', topics.spans);
      await never.start();
      expect(never.lag.total).toBe(sent);
      await never.stop();
      const metrics = await (await fetch(viaK.metricsUrl!)).text();
      expect(metrics).toMatch(/chainwatch_kafka_consumer_lag\{stage="detect",partition="0"[^}]*\} 0\n/);
      expect(metrics).toMatch(/chainwatch_kafka_brokers_reachable\{stage="detect"[^}]*\} 1\n/);
      expect(metrics).toMatch(/chainwatch_kafka_dead_letters_total\{stage="ingest"[^}]*\} 4\n/);
      expect((viaK.status() as any).kafka.detect.lag.total).toBe(0);
      expect(viaK.detect!.counters.malformed).toBe(1);

      const key = (a: Alert): string => `${a.id} ${a.severity} ${a.count}${a.update ? ' update' : ''}`;
      expect(viaHttp.length).toBeGreaterThan(5);
      expect(viaKafka.map(key).sort()).toEqual(viaHttp.map(key).sort());

      const dlq = new Kafka({ clientId: 'chainwatch-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING }).consumer({ groupId: 'dlq-reader' });
      await dlq.connect();
      await dlq.subscribe({ topic: topics.dlq, fromBeginning: true });
      const dead: { value: string; error: string; bytes: Buffer }[] = [];
      await new Promise<void>((resolve) => {
        void dlq.run({ eachMessage: async ({ message }) => {
          dead.push({ value: String(message.value), error: String(message.headers?.['chainwatch-error']), bytes: message.value! });
          if (dead.length === 4) resolve();
        } });
      });
      await dlq.disconnect();
      expect(dead.filter((d) => d.error.startsWith('rejected')).map((d) => d.error)).toEqual([
        "rejected 3 of 3 spans, which this record holds (the rest were ingested): span starts or ends more than 10m after this machine's clock (engine.chains.max_clock_skew): check the sender's clock",
        "rejected 3 of 6 spans, which this record holds (the rest were ingested): span ended more than 7d before event time, the latest span end seen (engine.chains.max_span_age): check the sender's clock, and that it writes times in nanoseconds",
      ]);
      // The partly rejected record's dead letter holds its rejected spans alone, as sent: published
      // again, it would not send the on-time agent's spans a second time.
      const partly = dead.find((d) => d.error.startsWith('rejected 3 of 6'))!;
      const filter = viaK.engine.norm.filter;
      const spanIds = (doc: any): string[] => doc.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((s: any) => s.spanId)));
      expect(decodeTraceRequest(partly.bytes, filter).spans.map((s) => s.spanId)).toEqual(spanIds(behind));
      expect(Buffer.compare(partly.bytes, Buffer.from(toProto(behind)))).toBe(0);
      expect(dead.filter((d) => !d.error.startsWith('rejected')).map((d) => d.value).sort()).toEqual(['not an OTLP request', '{"resourceSpans": 7}']);
      expect(dead.every((d) => d.error.length > 5)).toBe(true);
    } finally {
      await producer.disconnect();
      await http.stop();
      await viaK.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  }, 120_000);

  it('ingest builds the same chains whatever the pace at which partitions are read', async () => {
    registerKafkaCodecs();
    const sim = simulate({ seed: 29, agentsPerRole: 3, historyDays: 1, liveDays: 2, attacksPerClass: 1, chainsPerAgentDay: 20 });
    const kafka = new Kafka({ clientId: 'chainwatch-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: ['det_spans', 'det_calls_a', 'det_calls_b'].map((topic) => ({ topic, numPartitions: 4 })), waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    // A trace stays in one partition (the Collector's partition_traces_by_id); partitions are
    // uneven, so they are read at different paces and their reads interleave differently each run.
    const messages = sim.live.map((doc) => {
      const traceId = (doc as any).resourceSpans[0].scopeSpans[0].spans[0].traceId as string;
      return { key: traceId, value: Buffer.from(toProto(doc)), partition: [0, 0, 0, 1, 1, 2, 3][parseInt(traceId.slice(0, 6), 16) % 7] };
    });
    for (let i = 0; i < messages.length; i += 50) await producer.send({ topic: 'det_spans', compression: CompressionTypes.LZ4, messages: messages.slice(i, i + 50) });
    await producer.disconnect();

    // Per trace: its calls in order and its closes.
    const run = async (calls: string): Promise<Map<string, string[]>> => {
      const ingest = new KafkaIngest(kafka, { spans: 'det_spans', calls, dlq: 'det_dlq' }, defaultEngineConfig, { groupId: `det-${calls}`, sessionTimeoutMs: 30_000, commitIntervalMs: 1_000, maxHoldMs: 600_000 });
      await ingest.start();
      await until(() => ingest.counters.records === messages.length, 60_000);
      await ingest.stop();
      const byAgent = new Map<string, string[]>();
      const consumer = kafka.consumer({ groupId: `read-${calls}` });
      await consumer.connect();
      await consumer.subscribe({ topic: calls, fromBeginning: true });
      let items = 0;
      await new Promise<void>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => {
          const events = decodeCalls(message.value!);
          for (const item of events) {
            const trace = item.t === 'call' ? item.call.traceId : item.traceId;
            const list = byAgent.get(trace) ?? [];
            list.push(`${String(message.key)} ${JSON.stringify(item)}`);
            byAgent.set(trace, list);
          }
          items += events.length;
          if (items === ingest.counters.calls + ingest.counters.closes) resolve();
        } });
      });
      await consumer.disconnect();
      return byAgent;
    };
    const a = await run('det_calls_a');
    const b = await run('det_calls_b');
    expect(a.size).toBeGreaterThan(100);
    // The same chains, each with the same calls in the same order. (The order of one agent's
    // chains from different spans partitions does follow the pace of reading.)
    for (const [trace, items] of a) expect(b.get(trace), trace).toEqual(items);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    // Every chain ends with its close (a trace idle past the timeout and then resumed closes twice).
    for (const items of a.values()) expect(items.at(-1)).toContain('"t":"close"');
    expect([...a.values()].some((items) => items.filter((i) => i.includes('"t":"close"')).length === 2)).toBe(true);
  }, 120_000);

  // Last in this file: it stops the broker and starts it again on its data.
  it('says when the brokers went away and when they are back, and goes on with what is sent after', async () => {
    registerKafkaCodecs();
    const topics = { spans: 'otlp_spans_outage', calls: 'chainwatch_calls_outage', dlq: 'otlp_spans_outage_dlq' };
    const logged: string[] = [];
    const log = {
      info: (_o: object, msg: string) => logged.push(`info ${msg}`),
      warn: (_o: object, msg: string) => logged.push(`warn ${msg}`),
      error: (_o: object, msg: string) => logged.push(`error ${msg}`),
    };
    const dir = mkdtempSync(join(tmpdir(), 'cw-outage-'));
    const svc = new Service({ stateDir: dir, receiver: { port: 0 }, log, kafka: kafkaConfig({ topics, group: 'outage' }, [`127.0.0.1:${port}`]),
      telemetry: { prometheus: { enabled: true, host: '127.0.0.1', port: 0 }, otlp: { enabled: false, endpoint: '', intervalMs: 60_000, headers: {}, traces: false } } });
    const reachable = async (): Promise<string[]> => [...(await (await fetch(svc.metricsUrl!)).text()).matchAll(/^chainwatch_kafka_brokers_reachable\{stage="(\w+)"[^}]*\} (\d)$/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    const lagError = (stage: 'ingest' | 'detect'): string | undefined => (svc.status() as any).kafka[stage].lag?.error;
    const url = `${await svc.start()}/v1/traces`;
    try {
      expect(lagError('ingest')).toBeUndefined();
      // OTLP/HTTP sent to a Kafka worker is refused with where to send it, not fed to its own engine.
      const misdirected = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(agentTrace({ t0: Date.now() - 60_000, agentId: 'http-agent', tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }] }).doc) });
      expect(misdirected.status).toBe(404);
      expect((await misdirected.json()).message).toBe('this chainwatch runs the Kafka ingest and detect stages and reads its telemetry from the topic otlp_spans_outage: send OTLP there (the Collector\'s kafka exporter), or to a chainwatch serve without Kafka');
      expect(svc.engine.agents.has('http-agent')).toBe(false);
      execFileSync('bash', [script, 'stop'], { env, stdio: 'pipe', timeout: 60_000 });
      // The lag probes ask every 10 s; kafkajs retries a while before it gives up on a request.
      await until(() => lagError('ingest') !== undefined && lagError('detect') !== undefined, 90_000, 200);
      expect(lagError('ingest')).toMatch(/ECONNREFUSED|Connection error|not.*reach/i);
      await until(() => logged.some((l) => l.startsWith('warn kafka ingest: cannot reach the brokers: ')), 2_000);
      await until(() => logged.some((l) => l.startsWith('warn kafka detect: cannot reach the brokers: ')), 2_000);
      expect(await reachable()).toEqual(['detect 0', 'ingest 0']);

      execFileSync('bash', [script, 'resume'], { env, stdio: 'pipe', timeout: 180_000 });
      await until(() => logged.includes('info kafka ingest: brokers reachable again') && logged.includes('info kafka detect: brokers reachable again'), 90_000, 200);
      expect(lagError('ingest')).toBeUndefined();
      expect(await reachable()).toEqual(['detect 1', 'ingest 1']);
      // Both stages consume again: a trace sent now becomes a call in the detect stage's engine.
      const producer = new Kafka({ clientId: 'collector', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING }).producer();
      await producer.connect();
      const { doc } = agentTrace({ t0: Date.now() - 60_000, agentId: 'after-outage-agent', tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }] });
      await producer.send({ topic: topics.spans, messages: [{ value: Buffer.from(toProto(doc)) }] });
      await producer.disconnect();
      await until(() => svc.engine.agents.has('after-outage-agent'), 90_000, 200);
    } finally {
      await svc.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
