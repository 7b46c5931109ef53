/**
 * `npm run bench:kafka`: spans/s through a real broker, both stages and every detector, on this
 * machine. Starts its own broker (deploy/kafka.sh, 127.0.0.1:19392), writes a simulated fleet's
 * live traffic to otlp_spans first (OTLP protobuf batches of ≥ 100 spans, as the Collector's
 * exporter writes them, zstd), then starts `serve`'s Kafka stages on a fleet whose baselines were
 * learned, and times from the first record consumed until the detect stage has consumed every
 * record ingest produced. One process runs both stages, so they share one core between them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { registerKafkaCodecs } from '../../src/kafka-codecs.js';
import { decodeTraceRequestJson } from '../../src/otlp-json.js';
import { packagePath } from '../../src/package-path.js';
import { Service } from '../../src/service.js';
import { kafkaConfig } from '../../src/config.js';
import { simulate } from '../../src/simulate.js';

const Request = protobuf.loadSync(packagePath('schemas', 'otlp', 'trace.proto')).lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

function toBatches(docs: any[], perBatch: number): { bufs: Buffer[]; spans: number } {
  const bufs: Buffer[] = [];
  let pending: any[] = [];
  let count = 0;
  let total = 0;
  for (const doc of docs) {
    for (const rs of doc.resourceSpans) {
      const copy = JSON.parse(JSON.stringify(rs));
      for (const ss of copy.scopeSpans) for (const s of ss.spans) {
        for (const k of ['traceId', 'spanId', 'parentSpanId']) s[k] = Buffer.from(s[k] ?? '', 'hex');
        count++;
        total++;
      }
      pending.push(copy);
    }
    if (count >= perBatch) {
      bufs.push(Buffer.from(Request.encode(Request.fromObject({ resourceSpans: pending })).finish()));
      pending = [];
      count = 0;
    }
  }
  if (pending.length) bufs.push(Buffer.from(Request.encode(Request.fromObject({ resourceSpans: pending })).finish()));
  return { bufs, spans: total };
}

async function main(): Promise<void> {
  registerKafkaCodecs();
  const dir = mkdtempSync(join(tmpdir(), 'chainwatch-bench-kafka-'));
  const env = { ...process.env, KAFKA_DIR: join(dir, 'kafka'), KAFKA_PORT: '19392' };
  const script = packagePath('deploy', 'kafka.sh');
  execFileSync('bash', [script, 'start'], { env, stdio: 'inherit' });
  const brokers = ['127.0.0.1:19392'];
  try {
    const sim = simulate({ seed: 7, agentsPerRole: 40, historyDays: 3, liveDays: 2, attacksPerClass: 5, chainsPerAgentDay: 15 });
    // The Collector's batching interleaves traces; ours groups whole traces, which is what partition_traces_by_id gives per partition.
    const { bufs, spans } = toBatches(sim.live, 100);
    process.stderr.write(`simulated: ${spans} spans in ${bufs.length} records; producing…\n`);
    const producer = new Kafka({ clientId: 'collector', brokers, logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    for (let i = 0; i < bufs.length; i += 50) {
      await producer.send({ topic: 'otlp_spans', compression: CompressionTypes.ZSTD, messages: bufs.slice(i, i + 50).map((value) => ({ key: null, value })) });
    }
    await producer.disconnect();
    const service = new Service({ stateDir: join(dir, 'state'), receiver: { port: 0 }, kafka: kafkaConfig({}, brokers) });
    service.engine.mode = 'learn';
    for (const doc of sim.history) service.engine.ingestSpans(decodeTraceRequestJson(doc, service.engine.norm.filter).spans);
    service.engine.flush();
    service.engine.mode = 'detect';
    process.stderr.write('produced and learned; starting the stages…\n');
    const tStart = performance.now();
    await service.start();
    const ingest = (): NonNullable<typeof service.ingest>['counters'] => service.ingest!.counters;
    // Timing starts at the first record consumed: joining the consumer groups is start-up, not throughput.
    while (ingest().records === 0) await new Promise((r) => setImmediate(r));
    const t0 = performance.now();
    const joinMs = t0 - tStart;
    while (ingest().records < bufs.length) await new Promise((r) => setTimeout(r, 20));
    const tIngest = performance.now();
    // Let the ingest stage's idle tick close the last chains, then wait for detect to catch up.
    await new Promise((r) => setTimeout(r, 1500));
    while (service.detect!.counters.records < ingest().calls + ingest().closes) await new Promise((r) => setTimeout(r, 20));
    const tDetect = performance.now();
    const s = (ms: number): string => `${Math.round(spans / (ms / 1000) / 1000)}k`;
    process.stdout.write(`${spans.toLocaleString('en')} spans in ${bufs.length} zstd records (${sim.labels.length} chains), ${service.engine.agents.size} agents learned first\n\n`);
    process.stdout.write('| stage | spans/s |\n|---|---|\n');
    process.stdout.write(`| ingest: consume, decode, normalize, join, produce calls | ${s(tIngest - t0)} |\n`);
    process.stdout.write(`| both stages and every detector, to the last call scored (includes a 1.5 s idle wait) | ${s(tDetect - t0)} |\n`);
    process.stdout.write(`| same, without the idle wait | ${s(tDetect - t0 - 1500)} |\n`);
    process.stdout.write(`\nconsumer groups joined in ${(joinMs / 1000).toFixed(1)} s (not counted); calls ${ingest().calls}, chains closed ${ingest().closes}, alerts ${Object.values(service.engine.stats.alerts).reduce((a, b) => a + b, 0)}, dead letters ${ingest().deadLettered}\n`);
    await service.stop();
  } finally {
    execFileSync('bash', [script, 'stop'], { env, stdio: 'inherit' });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
