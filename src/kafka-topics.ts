/**
 * The topics chainwatch's Kafka stages use, created when missing: the Collector writes `spans`;
 * ingest writes `calls` and the dead letters; a detect group keeps its state in a compacted
 * changelog.
 */
import type { Kafka } from 'kafkajs';
import type { KafkaTopics } from './kafka-config.js';

/**
 * Create our topics when missing (a no-op when they exist). `calls` has as many partitions as the
 * detect stage may have workers; a detect group's changelog is compacted and has as many
 * partitions as `calls`, since an agent's state goes to the partition number its calls come from.
 */
export async function ensureTopics(kafka: Kafka, topics: KafkaTopics, options: { callsPartitions?: number; changelog?: string } = {}): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const have = new Set(await admin.listTopics());
    const want = [
      { topic: topics.spans, numPartitions: 4 }, { topic: topics.calls, numPartitions: options.callsPartitions ?? 8 }, { topic: topics.dlq, numPartitions: 1 },
    ].filter((t) => !have.has(t.topic));
    if (want.length) await admin.createTopics({ topics: want, waitForLeaders: true });
    if (options.changelog !== undefined && !have.has(options.changelog)) {
      const meta = await admin.fetchTopicMetadata({ topics: [topics.calls] });
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{
          topic: options.changelog, numPartitions: meta.topics[0].partitions.length,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'max.message.bytes', value: String(16 << 20) }, { name: 'min.compaction.lag.ms', value: '0' }],
        }],
      });
    }
  } finally {
    await admin.disconnect();
  }
}
