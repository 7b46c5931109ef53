/**
 * The Kafka detect stage: a consumer group on the internal calls topic (keyed by agent id, so
 * each worker sees all of its agents' calls, in order) feeding the engine. Offsets are resolved
 * only after the alerts and revocations the batch caused are durable (`durable()`); alert and
 * revocation ids are deterministic, so records replayed after a crash deduplicate downstream.
 */
import type { Consumer, Kafka } from 'kafkajs';
import type { AgentCall } from './agent-call.js';
import type { Engine } from './engine.js';
import type { CallRecord } from './kafka-ingest.js';

export interface DetectCounters { records: number; calls: number; closes: number; malformed: number }

export class KafkaDetect {
  readonly counters: DetectCounters = { records: 0, calls: 0, closes: 0, malformed: 0 };
  private readonly consumer: Consumer;

  constructor(kafka: Kafka, private readonly topic: string, private readonly engine: Engine, private readonly durable: () => Promise<void>, private readonly onRecord: () => void = () => {}, groupId = 'chainwatch-detect') {
    this.consumer = kafka.consumer({ groupId, maxBytesPerPartition: 4 << 20 });
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: true, eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning }) => {
        let last: string | undefined;
        for (const m of batch.messages) {
          if (!isRunning()) break;
          this.counters.records++;
          let rec: CallRecord;
          try {
            rec = JSON.parse(String(m.value)) as CallRecord;
          } catch {
            this.counters.malformed++;
            last = m.offset;
            continue;
          }
          if (rec.t === 'call') {
            this.counters.calls++;
            this.engine.ingestCall(rec.call as AgentCall);
          } else if (rec.t === 'close') {
            this.counters.closes++;
            this.engine.closeChain(rec.traceId);
          } else this.counters.malformed++;
          last = m.offset;
        }
        this.onRecord();
        await this.durable();
        if (last !== undefined) resolveOffset(last);
        await heartbeat();
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
