/**
 * Reading back a compacted changelog topic (the detect stage's agent state): the latest value per
 * key in some of its partitions, read to the end they had when asked. kafkajs has no manual
 * partition assignment, so a throwaway consumer group reads the topic and is deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { KafkaError } from './errors.js';

export interface Ends { low: number; high: number }
export interface Latest { partition: number; value: string | null }

export async function changelogEnds(kafka: Kafka, topic: string): Promise<Map<number, Ends>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic).catch((err: Error) => {
      throw new KafkaError(`reading the ends of changelog topic ${topic}: ${err.message}`, { cause: err });
    });
    return new Map(offsets.map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]));
  } finally {
    await admin.disconnect();
  }
}

/**
 * The latest record per key in these partitions. `keep(prev, next)` may keep an earlier value
 * over a later one (the detect stage prefers the higher offset stamp); tombstones are kept as
 * null. `heartbeat` keeps the caller's own group session alive meanwhile.
 */
export async function readChangelog(
  kafka: Kafka, topic: string, groupPrefix: string, partitions: number[], ends: Map<number, Ends>, heartbeat: () => Promise<void>,
  keep: (prev: string, next: string) => boolean = () => false,
): Promise<Map<string, Latest>> {
  const latest = new Map<string, Latest>();
  const remaining = new Map<number, number>();
  for (const p of partitions) {
    const end = ends.get(p);
    if (end !== undefined && end.high > end.low) remaining.set(p, end.high - 1);
  }
  if (remaining.size === 0) return latest;
  const groupId = `${groupPrefix}-restore-${randomUUID()}`;
  const reader = kafka.consumer({ groupId, maxBytesPerPartition: 8 << 20 });
  try {
    await reader.connect();
    await reader.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      reader.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const last = remaining.get(batch.partition);
          if (last === undefined) return;
          for (const m of batch.messages) {
            if (Number(m.offset) > last) break;
            const key = String(m.key);
            const value = m.value === null ? null : m.value.toString();
            const prev = latest.get(key);
            if (prev?.value != null && value !== null && keep(prev.value, value)) continue;
            latest.set(key, { partition: batch.partition, value });
          }
          if (Number(batch.lastOffset()) >= last) remaining.delete(batch.partition);
          if (remaining.size === 0) resolve();
          await heartbeat();
        },
      }).catch(reject);
    });
  } finally {
    await reader.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
  return latest;
}
