/**
 * The ingest stage's commits and backpressure against its sends, with a scripted producer: a send
 * that fails after a commit has taken its offsets must not let that commit through; a batch waits
 * for the broker once too much output is unacknowledged. (kafkajs objects stand in for
 * the broker only here, to fail one send at a chosen moment; everything else about the stage
 * runs against a real broker in test/kafka-broker.test.ts and test/kafka-failover.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { defaultEngineConfig } from '../src/engine.js';
import { KafkaIngest } from '../src/kafka-ingest.js';
import { defaultKafkaTopics } from '../src/kafka-config.js';
import { agentTrace, toProto } from './helpers/spans.js';

interface Pending { messages: { value: Buffer }[]; resolve: () => void; reject: (e: Error) => void }

function scripted() {
  const sends: Pending[] = [];
  const commits: { partition: number; offset: string }[][] = [];
  let eachBatch: ((payload: unknown) => Promise<void>) | undefined;
  const kafka = {
    consumer: () => ({
      connect: async () => {}, disconnect: async () => {}, subscribe: async () => {}, pause: () => {},
      on: () => {}, events: { GROUP_JOIN: 'join' },
      run: async (o: { eachBatch: (payload: unknown) => Promise<void> }) => void (eachBatch = o.eachBatch),
      commitOffsets: async (offsets: { partition: number; offset: string }[]) => void commits.push(offsets),
    }),
    producer: () => ({
      connect: async () => {}, disconnect: async () => {},
      send: (req: { messages: { value: Buffer }[] }) => new Promise<unknown[]>((resolve, reject) => sends.push({ messages: req.messages, resolve: () => resolve([]), reject })),
    }),
  } as unknown as Kafka;
  return { kafka, sends, commits, batch: (payload: unknown) => eachBatch!(payload) };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

const OPTIONS = { groupId: 'g', sessionTimeoutMs: 30_000, commitIntervalMs: 3_600_000, maxHoldMs: 3_600_000 };

/** One record of the spans topic holding a trace with `tools` tool calls. */
function record(offset: number, tools: number): { batch: object; resolveOffset: () => void; heartbeat: () => Promise<void>; isRunning: () => boolean } {
  const tr = agentTrace({
    t0: Date.UTC(2026, 5, 1) + offset * 60_000, agentId: 'support-agent-01',
    tools: Array.from({ length: tools }, (_, i) => ({ tool: 'get_ticket', method: 'GET', url: `https://tickets.corp.internal/api/tickets/${i}` })),
  });
  return {
    batch: { topic: 'otlp_spans', partition: 0, highWatermark: String(offset + 1), messages: [{ offset: String(offset), key: null, value: Buffer.from(toProto(tr.doc)) }] },
    resolveOffset: () => {}, heartbeat: async () => {}, isRunning: () => true,
  };
}

describe('Kafka ingest backpressure', () => {
  it('holds a batch while more than the bound is unacknowledged, and releases it when the broker acknowledges', async () => {
    const s = scripted();
    const ingest = new KafkaIngest(s.kafka, defaultKafkaTopics, defaultEngineConfig, { ...OPTIONS, maxUnackedBytes: 4096 });
    await ingest.start();
    let done = false;
    const held = s.batch(record(0, 20)).then(() => void (done = true));
    for (let i = 0; i < 10; i++) await tick();
    expect(s.sends).toHaveLength(1);
    expect(s.sends[0].messages.reduce((n, m) => n + m.value.length, 0)).toBeGreaterThan(4096);
    expect(done).toBe(false);
    s.sends[0].resolve();
    await held;
    expect(done).toBe(true);
  });

  it('does not hold a batch whose output stays under the bound', async () => {
    const s = scripted();
    const ingest = new KafkaIngest(s.kafka, defaultKafkaTopics, defaultEngineConfig, { ...OPTIONS, maxUnackedBytes: 1 << 20 });
    await ingest.start();
    await s.batch(record(0, 20));
    expect(s.sends).toHaveLength(1); // still in flight: the batch returned without waiting for it
  });
});

describe('Kafka ingest turns of the event loop', () => {
  it('gives the event loop turns while it decodes a large fetch, not only when it sends', async () => {
    const s = scripted();
    const ingest = new KafkaIngest(s.kafka, defaultKafkaTopics, defaultEngineConfig, OPTIONS);
    await ingest.start();
    // 64 records whose calls stay far under one send's worth: a send in flight (and anything else
    // on the loop: the receiver, timers) must still move while they are decoded.
    const records = Array.from({ length: 64 }, (_, i) => record(i, 2));
    const payload = { ...records[0], batch: { ...records[0].batch, highWatermark: '64', messages: records.flatMap((r) => (r.batch as { messages: unknown[] }).messages) } };
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    await s.batch(payload);
    counting = false;
    expect(turns).toBeGreaterThanOrEqual(3);
  });

  it('takes turns between partitions read at once, so an agent\'s calls leave close to event-time order', async () => {
    const s = scripted();
    const ingest = new KafkaIngest(s.kafka, defaultKafkaTopics, defaultEngineConfig, OPTIONS);
    await ingest.start();
    // Two partitions' fetches of 64 records each, handed over together (as kafkajs does with
    // partitionsConsumedConcurrently): the order their records are read in is the order in
    // which isRunning is asked, once per record.
    const read: number[] = [];
    const fetch = (partition: number): object => {
      const records = Array.from({ length: 64 }, (_, i) => record(partition * 1000 + i, 1));
      return {
        ...records[0], isRunning: () => (read.push(partition), true),
        batch: { ...records[0].batch, partition, highWatermark: '1000000', messages: records.flatMap((r) => (r.batch as { messages: unknown[] }).messages) },
      };
    };
    await Promise.all([s.batch(fetch(0)), s.batch(fetch(1))]);
    expect(read).toHaveLength(128);
    // Read one after the other, partition 1 would start only after all 64 of partition 0.
    expect(read.indexOf(1)).toBeLessThan(32);
    expect(read.lastIndexOf(0)).toBeGreaterThan(96);
  });
});

describe('Kafka ingest commits', () => {
  it('a commit waits for the calls read before its offsets, even when their first send fails after it began', async () => {
    const s = scripted();
    const ingest = new KafkaIngest(s.kafka, defaultKafkaTopics, defaultEngineConfig, OPTIONS);
    await ingest.start();
    const tr = agentTrace({ t0: Date.UTC(2026, 5, 1), agentId: 'support-agent-01', tools: [{ tool: 'get_ticket', method: 'GET', url: 'https://tickets.corp.internal/api/tickets/1' }] });
    await s.batch({
      batch: { topic: 'otlp_spans', partition: 0, highWatermark: '1', messages: [{ offset: '0', key: null, value: Buffer.from(toProto(tr.doc)) }] },
      resolveOffset: () => {}, heartbeat: async () => {}, isRunning: () => true,
    });
    await tick();
    // The batch's calls are in flight, not acknowledged; the batch itself did not wait for them.
    expect(s.sends).toHaveLength(1);
    expect(s.sends[0].messages.map((m) => m.value.toString()).join()).toContain('get_ticket');
    const commit = (ingest as unknown as { commit(): Promise<void> }).commit();
    await tick();
    s.sends[0].reject(new Error('broker gone'));
    for (let i = 0; i < 5; i++) await tick();
    // The commit's own send carries what the failed one did not deliver; no offsets until it is acknowledged.
    expect(s.commits).toHaveLength(0);
    expect(s.sends).toHaveLength(2);
    expect(s.sends[1].messages.map((m) => m.value.toString()).join()).toContain('get_ticket');
    s.sends[1].resolve();
    await commit;
    expect(s.commits).toEqual([[expect.objectContaining({ partition: 0, offset: '1' })]]);
    expect(ingest.counters.produceErrors).toBe(1);
  });
});
