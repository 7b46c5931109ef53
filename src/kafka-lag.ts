/**
 * Consumer lag of one stage: per partition, the topic's end offset minus the group's committed
 * offset (a partition never committed counts from its start), or minus the read position an
 * ingest commit records in its metadata when its offset is held back for open traces. Sampled on
 * an interval with the admin API — the number an autoscaler on lag reads
 * (chainwatch_kafka_consumer_lag).
 */
import type { Admin, Kafka } from 'kafkajs';

const READ = 'chainwatch:read=';

/** Commit metadata recording how far a partition was read (the committed offset may be held back). */
export function readMetadata(next: number): string {
  return `${READ}${next}`;
}

/** The read position in commit metadata written by readMetadata, or undefined. */
export function readPosition(metadata: string | null | undefined): number | undefined {
  if (metadata === null || metadata === undefined || !metadata.startsWith(READ)) return undefined;
  const n = Number(metadata.slice(READ.length));
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export interface Lag {
  total: number;
  byPartition: Record<number, number>;
  /** When it was last measured (epoch ms); 0 before the first sample. */
  at: number;
  /** Why the latest sample failed (the figures are then those measured at `at`); absent when it succeeded. */
  error?: string;
}

export class LagProbe {
  lag: Lag = { total: 0, byPartition: {}, at: 0 };
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly kafka: Kafka, private readonly groupId: string, private readonly topic: string, private readonly intervalMs = 10_000) {}

  async start(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await this.trySample();
    this.timer = setInterval(() => void this.trySample(), this.intervalMs);
    this.timer.unref();
  }

  /** A sample whose failure is kept with the last figures measured (brokers away: lag unknown, not 0). */
  private async trySample(): Promise<void> {
    try {
      await this.sample();
    } catch (err) {
      this.lag = { ...this.lag, error: (err as Error).message };
    }
  }

  async sample(): Promise<Lag> {
    const admin = this.admin!;
    const ends = await admin.fetchTopicOffsets(this.topic);
    const [committed] = await admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] });
    const byPartition: Record<number, number> = {};
    let total = 0;
    for (const e of ends) {
      const entry = committed?.partitions.find((p) => p.partition === e.partition);
      const c = Number(entry?.offset ?? -1);
      // An ingest commit may sit behind what was read (held for open traces); its metadata says how far.
      const position = Math.max(c >= 0 ? c : Number(e.low), readPosition(entry?.metadata) ?? -1);
      const lag = Math.max(0, Number(e.high) - position);
      byPartition[e.partition] = lag;
      total += lag;
    }
    this.lag = { total, byPartition, at: Date.now() };
    return this.lag;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.admin?.disconnect();
  }
}
