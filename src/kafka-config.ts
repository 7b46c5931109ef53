import type { KafkaClientSecurity, KafkaSecurityFile } from './kafka-security.js';

/** Where the Kafka stages read and write, and how their consumer groups behave. */
export interface KafkaTopics { spans: string; calls: string; dlq: string }
export const defaultKafkaTopics: KafkaTopics = { spans: 'otlp_spans', calls: 'chainwatch_calls', dlq: 'otlp_spans_dlq' };

export interface KafkaConfig {
  brokers: string[];
  stages: ('ingest' | 'detect')[];
  /** Consumer group prefix: `<group>-ingest`, `<group>-detect`. */
  group: string;
  sessionTimeoutMs: number;
  /** How often both stages commit: detect writes its agents' state to the changelog first; ingest holds back for open traces. */
  commitIntervalMs: number;
  /** Partitions of the calls topic when we create it. */
  callsPartitions: number;
  topics: KafkaTopics;
  /** TLS and SASL as the config has them (`kafka.tls`, `kafka.sasl`): shown by `config show`, secrets by name only. */
  security?: KafkaSecurityFile;
  /** The same, files and password read (serve fills it from the environment): what the clients use. */
  client?: KafkaClientSecurity;
}

/**
 * Per partition and fetch. Smaller fetches keep both stages busy at once and the heap small:
 * through both stages, 1 MB gave 39–44k spans/s where 4 MB gave 32–33k (`npm run bench:kafka`,
 * 256 KB and 512 KB were no better than 1 MB). Both stages use it.
 */
export const FETCH_BYTES_PER_PARTITION = 1 << 20;

/** A stage's consumer session: its timeout, and heartbeats a fifth of it apart (at least 500 ms). */
export function stageSession(sessionTimeoutMs: number): { sessionTimeout: number; heartbeatInterval: number } {
  return { sessionTimeout: sessionTimeoutMs, heartbeatInterval: Math.max(500, Math.floor(sessionTimeoutMs / 5)) };
}

/** A stage's latest error and when it happened (ISO time), as /status shows it: it stays after the stage recovers. */
export interface StageError { lastError?: string; lastErrorAt?: string }

/** Keep a stage's latest error for /status (the service logs it once). */
export function noteStageError(counters: StageError, message: string): void {
  counters.lastError = message;
  counters.lastErrorAt = new Date().toISOString();
}
