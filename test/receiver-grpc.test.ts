/**
 * OTLP/gRPC beside OTLP/HTTP: the real OpenTelemetry gRPC exporter (the SDKs' and the Collector's
 * default transport) gets its spans in, gzip-compressed or not, with the bearer token in its
 * metadata where one is required; what does not decode is INVALID_ARGUMENT, backpressure is
 * UNAVAILABLE (which exporters retry), a missing token UNAUTHENTICATED — each counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:http2';
import { gzipSync } from 'node:zlib';
import { Metadata, status } from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { KeyFilter, defaultMapping } from '../src/attribute-map.js';
import { BackpressureError } from '../src/errors.js';
import { OtlpReceiver, defaultReceiverConfig } from '../src/receiver.js';
import type { RawSpan } from '../src/span.js';
import { healthCheck, rawExport } from './helpers/grpc.js';
import { agentTrace, toProto } from './helpers/spans.js';
import { exportOneSpan } from './helpers/export.js';

const received: RawSpan[] = [];
let saturated = false;
const make = (tokens?: string[]): OtlpReceiver => new OtlpReceiver(KeyFilter.forMapping(defaultMapping), {
  consume(spans) {
    if (saturated) throw new BackpressureError(3);
    received.push(...spans);
  },
  eventTime: () => 0,
}, { ...defaultReceiverConfig, port: 0, grpcPort: 0, ...(tokens ? { tokens } : {}) });
const open = make();
const guarded = make(['grpc-token-5d1e']);

beforeAll(async () => {
  await open.listen();
  await guarded.listen();
});
afterAll(async () => {
  await open.close();
  await guarded.close();
});

/** One span through the real OTLP/gRPC exporter; the error it reports, if any. */
function sendSpan(receiver: OtlpReceiver, options: { headers?: Record<string, string>; compression?: 'gzip' | 'none' } = {}): Promise<Error | undefined> {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(options.headers ?? {})) metadata.set(k, v);
  return exportOneSpan(new OTLPTraceExporter({ url: `http://${receiver.grpcAddress}`, metadata, ...(options.compression ? { compression: options.compression as never } : {}) }));
}

/** An Export call over plain HTTP/2 with a message compressed as `encoding` says: its gRPC status, from the headers or the trailers. */
function compressedCall(encoding: string, message: Buffer): Promise<{ code: string; message: string }> {
  const session = connect(`http://${open.grpcAddress}`);
  const req = session.request({ ':method': 'POST', ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export', 'content-type': 'application/grpc', 'grpc-encoding': encoding, te: 'trailers' });
  const statusOf = (h: Record<string, unknown>) => ({ code: String(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')) });
  const answer = new Promise<{ code: string; message: string }>((resolve) => {
    req.on('response', (h) => h['grpc-status'] !== undefined && resolve(statusOf(h)));
    req.on('trailers', (h) => resolve(statusOf(h)));
  });
  const prefix = Buffer.alloc(5);
  prefix[0] = 1; // compressed
  prefix.writeUInt32BE(message.length, 1);
  req.resume();
  req.end(Buffer.concat([prefix, message]));
  return answer.finally(() => session.close());
}

describe('OTLP/gRPC receiver', () => {
  it('takes spans from the real gRPC exporter, plain and gzip-compressed', async () => {
    expect(open.grpcAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    const before = received.length;
    expect(await sendSpan(open)).toBeUndefined();
    expect(await sendSpan(open, { compression: 'gzip' })).toBeUndefined();
    expect(received.slice(before).map((s) => s.name)).toEqual(['execute_tool search', 'execute_tool search']);
    expect(open.counters.spansAccepted).toBe(2);
  });

  it('answers what does not decode with INVALID_ARGUMENT, and backpressure with UNAVAILABLE, counting both', async () => {
    const bad = await rawExport(open.grpcAddress!, Buffer.from([0x0a, 0x7f, 0x01]));
    expect(bad).toEqual({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^cannot decode ExportTraceServiceRequest: length 127 runs past the end of its message/) });
    saturated = true;
    try {
      const refused = await sendSpan(open);
      expect((refused as { code?: number } | undefined)?.code).toBe(status.UNAVAILABLE);
      expect(refused?.message).toMatch(/^14 UNAVAILABLE: chainwatch is over its buffer limit; retry after 3s/);
    } finally {
      saturated = false;
    }
    expect(open.counters.badRequests).toMatchObject({ malformed: 1 });
    expect(open.counters.badRequests.backpressure).toBeGreaterThanOrEqual(1);
  });

  it('answers a message past the size limit with RESOURCE_EXHAUSTED, and a Kafka worker with where to send', async () => {
    const small = new OtlpReceiver(KeyFilter.forMapping(defaultMapping), { consume: () => {}, eventTime: () => 0 }, { ...defaultReceiverConfig, port: 0, grpcPort: 0, maxBodyBytes: 1024 });
    await small.listen();
    try {
      expect((await rawExport(small.grpcAddress!, Buffer.alloc(2048))).code).toBe(status.RESOURCE_EXHAUSTED);
      small.refuseTraces = 'this chainwatch runs the Kafka ingest stage and reads its telemetry from the topic otlp_spans';
      expect(await rawExport(small.grpcAddress!, Buffer.alloc(0))).toEqual({ code: status.FAILED_PRECONDITION, details: small.refuseTraces });
      expect(small.counters.badRequests.misdirected).toBe(1);
    } finally {
      await small.close();
    }
  });

  it('takes a gzip-compressed message, and refuses one compressed with zstd (a Collector otlp exporter set so), naming the encoding', async () => {
    const before = received.length;
    const body = Buffer.from(toProto(agentTrace({ t0: Date.now() - 60_000, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }] }).doc));
    expect(await compressedCall('gzip', gzipSync(body))).toEqual({ code: String(status.OK), message: 'OK' });
    expect(received.length).toBeGreaterThan(before);
    expect(await compressedCall('zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toEqual({ code: String(status.UNIMPLEMENTED), message: 'Received message compressed with unsupported encoding "zstd"' });
  });

  it('answers the gRPC health check: SERVING once ready', async () => {
    open.ready = false;
    expect(await healthCheck(open.grpcAddress!)).toBe(2);
    open.ready = true;
    expect(await healthCheck(open.grpcAddress!)).toBe(1);
  });

  it('requires the bearer token in the metadata where the receiver requires one', async () => {
    const before = received.length;
    expect(await sendSpan(guarded, { headers: { authorization: 'Bearer grpc-token-5d1e' } })).toBeUndefined();
    expect(received.length).toBe(before + 1);
    const refused = await rawExport(guarded.grpcAddress!, Buffer.alloc(0));
    expect(refused).toEqual({ code: status.UNAUTHENTICATED, details: expect.stringMatching(/^missing or wrong bearer token/) });
    expect(guarded.counters.badRequests.unauthorized).toBe(1);
  });
});
