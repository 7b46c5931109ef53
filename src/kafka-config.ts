/** Where the Kafka stages read and write, and how the detect group behaves. */
export interface KafkaTopics { spans: string; calls: string; dlq: string }
export const defaultKafkaTopics: KafkaTopics = { spans: 'otlp_spans', calls: 'chainwatch_calls', dlq: 'otlp_spans_dlq' };

export interface KafkaConfig {
  brokers: string[];
  stages: ('ingest' | 'detect')[];
  /** Consumer group prefix: `<group>-ingest`, `<group>-detect`. */
  group: string;
  sessionTimeoutMs: number;
  /** Detect: how often agents' state goes to the changelog and offsets are committed. */
  commitIntervalMs: number;
  /** Partitions of the calls topic when we create it. */
  callsPartitions: number;
  topics: KafkaTopics;
}
