/**
 * Consumer lag of one stage: per partition, the topic's end offset minus the group's committed
 * offset (a partition never committed counts from its start). Sampled on an interval with the
 * admin API — the number an autoscaler on lag reads (chainwatch_kafka_consumer_lag).
 */
import type { Admin, Kafka } from 'kafkajs';

export interface Lag {
  total: number;
  byPartition: Record<number, number>;
  /** When it was last measured (epoch ms); 0 before the first sample. */
  at: number;
}

export class LagProbe {
  lag: Lag = { total: 0, byPartition: {}, at: 0 };
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly kafka: Kafka, private readonly groupId: string, private readonly topic: string, private readonly intervalMs = 10_000) {}

  async start(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await this.sample().catch(() => undefined);
    this.timer = setInterval(() => void this.sample().catch(() => undefined), this.intervalMs);
    this.timer.unref();
  }

  async sample(): Promise<Lag> {
    const admin = this.admin!;
    const ends = await admin.fetchTopicOffsets(this.topic);
    const [committed] = await admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] });
    const byPartition: Record<number, number> = {};
    let total = 0;
    for (const e of ends) {
      const c = Number(committed?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1);
      const lag = Math.max(0, Number(e.high) - (c >= 0 ? c : Number(e.low)));
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
