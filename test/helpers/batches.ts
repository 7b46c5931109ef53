/** Simulated OTLP/JSON docs as OTLP protobuf requests, the shape the benchmarks replay. */
import protobuf from 'protobufjs';
import { packagePath } from '../../src/package-path.js';

const Long = protobuf.util.Long as unknown as { fromString(s: string, unsigned: boolean): unknown };
const Request = protobuf.loadSync(packagePath('schemas', 'otlp', 'trace.proto')).lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

/** OTLP/JSON docs → protobuf requests of ≥ `perBatch` spans (the Collector's batch shape). */
export function toBatches(docs: any[], perBatch: number): { bufs: Uint8Array[]; spans: number } {
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
