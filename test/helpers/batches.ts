/** Simulated OTLP/JSON docs as OTLP protobuf requests, the shape the benchmarks replay. */
import protobuf from 'protobufjs';
import { packagePath } from '../../src/package-path.js';

const Long = protobuf.util.Long as unknown as { fromString(s: string, unsigned: boolean): unknown };
const Request = protobuf.loadSync(packagePath('schemas', 'otlp', 'trace.proto')).lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

/**
 * Attributes instrumentations put on spans beside the ones chainwatch reads (HTTP client and
 * GenAI semantic conventions, code and thread attributes), with values of the sizes they have:
 * what `attributesPerSpan` pads spans with. None is in the attribute mapping (the hot-path bench
 * checks), so padded spans give the same calls and alerts.
 */
export const UNREAD_ATTRIBUTES: readonly { key: string; value: Record<string, unknown> }[] = [
  { key: 'network.protocol.version', value: { stringValue: '1.1' } },
  { key: 'network.peer.address', value: { stringValue: '10.42.17.203' } },
  { key: 'network.peer.port', value: { intValue: '443' } },
  { key: 'url.scheme', value: { stringValue: 'https' } },
  { key: 'user_agent.original', value: { stringValue: 'python-httpx/0.27.2 agent-runtime/1.8.0' } },
  { key: 'http.response.header.content-type', value: { arrayValue: { values: [{ stringValue: 'application/json; charset=utf-8' }] } } },
  { key: 'gen_ai.usage.input_tokens', value: { intValue: '1873' } },
  { key: 'gen_ai.usage.output_tokens', value: { intValue: '214' } },
  { key: 'gen_ai.response.id', value: { stringValue: 'chatcmpl-9x7Qk2LmNpRsTuVwXyZaBcDeF' } },
  { key: 'thread.name', value: { stringValue: 'asyncio-worker-3' } },
  { key: 'code.function.name', value: { stringValue: 'agent_runtime.tools.http.invoke' } },
  { key: 'code.file.path', value: { stringValue: '/app/agent_runtime/tools/http.py' } },
];

/**
 * OTLP/JSON docs → protobuf requests of ≥ `perBatch` spans (the Collector's batch shape). With
 * `attributesPerSpan`, each span with fewer attributes gets UNREAD_ATTRIBUTES until it has that
 * many: spans as heavy as the ones the reference figures were measured on (12 attributes).
 */
export function toBatches(docs: any[], perBatch: number, attributesPerSpan = 0): { bufs: Uint8Array[]; spans: number } {
  const bufs: Uint8Array[] = [];
  let total = 0;
  let pending: any[] = [];
  let count = 0;
  const flush = (): void => {
    if (!pending.length) return;
    bufs.push(Request.encode(Request.fromObject({ resourceSpans: pending })).finish());
    pending = [];
    count = 0;
  };
  for (const doc of docs) {
    for (const rs of doc.resourceSpans) {
      const copy = JSON.parse(JSON.stringify(rs));
      for (const ss of copy.scopeSpans) {
        for (const s of ss.spans) {
          s.traceId = Buffer.from(s.traceId, 'hex');
          s.spanId = Buffer.from(s.spanId, 'hex');
          s.parentSpanId = Buffer.from(s.parentSpanId, 'hex');
          s.startTimeUnixNano = Long.fromString(s.startTimeUnixNano, true);
          s.endTimeUnixNano = Long.fromString(s.endTimeUnixNano, true);
          s.attributes ??= [];
          for (let i = 0; s.attributes.length < attributesPerSpan && i < UNREAD_ATTRIBUTES.length; i++) s.attributes.push(UNREAD_ATTRIBUTES[i]);
          count++;
          total++;
        }
      }
      pending.push(copy);
    }
    if (count >= perBatch) flush();
  }
  flush();
  return { bufs, spans: total };
}
