/** Kafka alert sink: one record per alert on the alerts topic, keyed by agent id (kafkajs). */
import { CompressionTypes, Kafka, type Producer, logLevel } from 'kafkajs';
import type { Alert } from './alerts.js';
import type { FormatOptions } from './format-common.js';
import type { KafkaClientSecurity } from './kafka-security.js';
import { type AlertFormat, BatchTooLargeError, type SinkTransport, formatAlert } from './sinks.js';

export interface KafkaSinkConfig { brokers: string[]; topic: string; format: AlertFormat; clientId: string; client?: KafkaClientSecurity }

export class KafkaSink implements SinkTransport {
  readonly name: string;
  private readonly producer: Producer;
  private connected: Promise<void> | undefined;

  constructor(private readonly c: KafkaSinkConfig, private readonly o: FormatOptions) {
    this.name = `kafka ${c.topic}`;
    this.producer = new Kafka({ clientId: c.clientId, brokers: c.brokers, logLevel: logLevel.NOTHING, ...c.client }).producer({ allowAutoTopicCreation: true, idempotent: true, maxInFlightRequests: 1 });
  }

  async send(alerts: Alert[]): Promise<void> {
    this.connected ??= this.producer.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    await this.connected;
    await this.producer.send({
      topic: this.c.topic, compression: CompressionTypes.GZIP, acks: -1,
      messages: alerts.map((a) => {
        const v = formatAlert(a, this.c.format, this.o);
        return { key: a.agent.id, value: typeof v === 'string' ? v : JSON.stringify(v), headers: { 'chainwatch-alert-id': a.id, 'content-type': this.c.format === 'cef' ? 'text/plain' : 'application/json' } };
      }),
    }).catch((err: unknown) => {
      // The broker's message.max.bytes (1 MB by default) against a batch's records, compressed.
      if (errorType(err) === 'MESSAGE_TOO_LARGE') throw new BatchTooLargeError(`${(err as Error).message} (${alerts.length} alert${alerts.length === 1 ? '' : 's'} in the batch)`, { cause: err });
      throw err;
    });
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
  }
}

/** The Kafka protocol error's type, looked for through the causes kafkajs wraps it in (a non-retriable error's). */
function errorType(err: unknown): string | undefined {
  for (let e = err as { type?: string; cause?: unknown } | undefined, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.type === 'string') return e.type;
  }
  return undefined;
}
