/**
 * The OTLP/HTTP receiver over real loopback HTTP: good bodies in both encodings, gzip, and every
 * kind of bad input — each gets the right status and a message naming the problem, is counted,
 * and the receiver keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { zstdCompress } from '../src/zstd.js';
import { rleFrame } from './helpers/zstd-frames.js';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { KeyFilter, defaultMapping } from '../src/attribute-map.js';
import { BackpressureError } from '../src/errors.js';
import { OtlpReceiver } from '../src/receiver.js';
import type { RawSpan } from '../src/span.js';
import { agentTrace } from './helpers/spans.js';

const root = protobuf.loadSync(fileURLToPath(new URL('../schemas/otlp/trace.proto', import.meta.url)));
const Request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const Response = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');
const Status = root.lookupType('opentelemetry.proto.collector.trace.v1.RpcStatus');

const received: RawSpan[] = [];
let saturated = false;
/** The event time the consumer reports (0: nothing seen, no bound on age). */
let eventTime = 0;
const filter = KeyFilter.forMapping(defaultMapping);
const args = filter.index('gen_ai.tool.call.arguments');
const receiver = new OtlpReceiver(filter, {
  consume(spans) {
    if (saturated) throw new BackpressureError(7);
    received.push(...spans);
  },
  eventTime: () => eventTime,
}, { host: '127.0.0.1', port: 0, maxBodyBytes: 256 * 1024, retryAfterSeconds: 7, maxClockSkewMs: 600_000, maxSpanAgeMs: 7 * 86_400_000 });
let url = '';

beforeAll(async () => {
  url = `${await receiver.listen()}/v1/traces`;
});
afterAll(() => receiver.close());

const T = Date.UTC(2026, 5, 1, 10);
const json = () => agentTrace({ t0: T, tools: [{ tool: 'get_ticket', method: 'GET', url: 'https://tickets.corp.internal/api/v2/tickets/1' }] });

function toProto(doc: any): Uint8Array {
  const fix = (o: any): any => {
    for (const rs of o.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) {
      s.traceId = Buffer.from(s.traceId, 'hex');
      s.spanId = Buffer.from(s.spanId, 'hex');
      s.parentSpanId = Buffer.from(s.parentSpanId, 'hex');
    }
    return o;
  };
  return Request.encode(Request.fromObject(fix(JSON.parse(JSON.stringify(doc))))).finish();
}

async function post(body: Uint8Array | string, type: string, headers: Record<string, string> = {}) {
  return fetch(url, { method: 'POST', headers: { 'content-type': type, ...headers }, body: typeof body === 'string' ? body : Buffer.from(body) });
}

describe('OTLP/HTTP receiver', () => {
  it('accepts protobuf and answers with an empty protobuf ExportTraceServiceResponse', async () => {
    const before = received.length;
    const res = await post(toProto(json().doc), 'application/x-protobuf');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-protobuf');
    expect(Buffer.from(await res.arrayBuffer())).toHaveLength(0);
    expect(received.length - before).toBe(3);
  });

  it('accepts JSON with a charset parameter, and gzip bodies', async () => {
    const before = received.length;
    const res = await post(JSON.stringify(json().doc), 'application/json; charset=utf-8');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    const gz = await post(gzipSync(toProto(json().doc)), 'application/x-protobuf', { 'content-encoding': 'gzip' });
    expect(gz.status).toBe(200);
    expect(received.length - before).toBe(6);
  });

  it('accepts the other encodings the Collector\'s otlphttp exporter can send: zstd, deflate (zlib-wrapped, or raw)', async () => {
    const before = received.length;
    const proto = toProto(json().doc);
    for (const [encoding, body] of [['zstd', await zstdCompress(Buffer.from(proto))], ['deflate', deflateSync(proto)], ['deflate', deflateRawSync(proto)], ['zlib', deflateSync(proto)]] as const) {
      const res = await post(body, 'application/x-protobuf', { 'content-encoding': encoding });
      expect(res.status, encoding).toBe(200);
    }
    expect(received.length - before).toBe(12);
    const snappy = await post(proto, 'application/x-protobuf', { 'content-encoding': 'snappy' });
    expect(snappy.status).toBe(400);
    expect(Status.toObject(Status.decode(Buffer.from(await snappy.arrayBuffer()))).message).toMatch(/unsupported content-encoding "snappy": use gzip, zstd, deflate or none/);
    const badZstd = await post(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5]), 'application/json', { 'content-encoding': 'zstd' });
    expect(badZstd.status).toBe(400);
    expect((await badZstd.json()).message).toMatch(/zstd body is corrupt/);
  });

  it('answers partial success for spans with bad ids or wrong types, keeping the good ones', async () => {
    const doc: any = json().doc;
    const spans = doc.resourceSpans[0].scopeSpans[0].spans;
    spans.push({ ...spans[0], traceId: '' }, { ...spans[0], spanId: 'not-hex!' }, { ...spans[0], startTimeUnixNano: { bad: 1 } });
    const res = await post(JSON.stringify(doc), 'application/json');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.partialSuccess.rejectedSpans).toBe('3');
    expect(body.partialSuccess.errorMessage).toMatch(/trace_id/);
    expect(body.partialSuccess.errorMessage).toMatch(/span\.spanId must be a hex string/);
    expect(body.partialSuccess.errorMessage).toMatch(/startTimeUnixNano/);
    const proto = await post(toProto({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '', spanId: 'aa00000000000001', parentSpanId: '', name: 'x' }] }] }] }), 'application/x-protobuf');
    const decoded = Response.toObject(Response.decode(Buffer.from(await proto.arrayBuffer())), { longs: Number }) as any;
    expect(decoded.partialSuccess.rejectedSpans).toBe(1);
    // A resource attribute of the wrong shape: that resource's spans are rejected (their identity
    // comes from it), the request's other resources are kept — not a 500 the exporter retries.
    const two: any = json().doc;
    const bad = structuredClone(two.resourceSpans[0]);
    bad.resource.attributes.push(7);
    two.resourceSpans.push(bad);
    const mixed = await post(JSON.stringify(two), 'application/json');
    expect(mixed.status).toBe(200);
    const mixedBody = await mixed.json();
    expect(mixedBody.partialSuccess.rejectedSpans).toBe(String(bad.scopeSpans[0].spans.length));
    expect(mixedBody.partialSuccess.errorMessage).toMatch(/resourceSpans\[1\]\.resource: attribute must be an object with a string "key"/);
  });

  it('rejects spans without times, and spans that end more than the clock skew after its clock, keeping the rest', async () => {
    const before = received.length;
    const doc: any = json().doc;
    const spans = doc.resourceSpans[0].scopeSpans[0].spans;
    const ns = (ms: number): string => `${ms}000000`;
    const ahead = Date.now() + 86_400_000; // a sender whose clock is a day ahead
    spans.push({ ...spans[0], spanId: 'bb00000000000001', startTimeUnixNano: ns(ahead), endTimeUnixNano: ns(ahead + 100) });
    spans.push({ ...spans[0], spanId: 'bb00000000000002', startTimeUnixNano: ns(Date.now() + 60_000), endTimeUnixNano: ns(Date.now() + 61_000) }); // a minute ahead: within the skew
    spans.push({ ...spans[0], spanId: 'bb00000000000003', startTimeUnixNano: ns(ahead), endTimeUnixNano: ns(T) }); // ends before it starts, a day ahead
    const res = await post(JSON.stringify(doc), 'application/json');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.partialSuccess.rejectedSpans).toBe('2');
    expect(body.partialSuccess.errorMessage).toBe("rejected 2 spans: span starts or ends more than 10m after this machine's clock (engine.chains.max_clock_skew): check the sender's clock");
    expect(received.length - before).toBe(4);
    expect(received.some((s) => s.spanId === 'bb00000000000001' || s.spanId === 'bb00000000000003')).toBe(false);
    // No times at all (protobuf leaves them out when zero), or only a start.
    const untimed = await post(toProto({ resourceSpans: [{ scopeSpans: [{ spans: [
      { traceId: 'ab'.repeat(16), spanId: 'cc00000000000001', parentSpanId: '', name: 'x' },
      { traceId: 'ab'.repeat(16), spanId: 'cc00000000000002', parentSpanId: '', name: 'y', startTimeUnixNano: ns(T) },
    ] }] }] }), 'application/x-protobuf');
    const decoded = Response.toObject(Response.decode(Buffer.from(await untimed.arrayBuffer())), { longs: Number }) as any;
    expect(decoded.partialSuccess.rejectedSpans).toBe(2);
    expect(decoded.partialSuccess.errorMessage).toBe('rejected 2 spans: span with missing start_time_unix_nano; span with missing end_time_unix_nano');
    expect(received.length - before).toBe(4);
  });

  it('rejects spans that ended longer before event time than the span age allows (a slow clock, milliseconds written as nanoseconds), keeping the rest', async () => {
    const before = received.length;
    const skewedBefore = receiver.counters.spansSkewed;
    const oldBefore = receiver.counters.spansTooOld;
    eventTime = T + 30 * 86_400_000;
    try {
      const doc: any = agentTrace({ t0: eventTime - 60_000, tools: [{ tool: 'get_ticket', method: 'GET', url: 'https://tickets.corp.internal/api/v2/tickets/1' }] }).doc;
      const spans = doc.resourceSpans[0].scopeSpans[0].spans;
      const ns = (ms: number): string => `${ms}000000`;
      spans.push({ ...spans[0], spanId: 'dd00000000000001', startTimeUnixNano: ns(eventTime - 400 * 86_400_000), endTimeUnixNano: ns(eventTime - 400 * 86_400_000 + 100) }); // a clock a year behind
      spans.push({ ...spans[0], spanId: 'dd00000000000002', startTimeUnixNano: String(eventTime), endTimeUnixNano: String(eventTime + 100) }); // milliseconds in a nanosecond field: 1970
      spans.push({ ...spans[0], spanId: 'dd00000000000003', startTimeUnixNano: ns(eventTime - 20 * 86_400_000), endTimeUnixNano: ns(eventTime - 60_000) }); // a task of twenty days that ended a minute ago
      spans.push({ ...spans[0], spanId: 'dd00000000000004', startTimeUnixNano: ns(eventTime - 6 * 86_400_000), endTimeUnixNano: ns(eventTime - 6 * 86_400_000 + 100) }); // six days late: within the week
      const res = await post(JSON.stringify(doc), 'application/json');
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.partialSuccess.rejectedSpans).toBe('2');
      expect(body.partialSuccess.errorMessage).toBe('rejected 2 spans: span ended more than 7d before event time, the latest span end seen (engine.chains.max_span_age): check the sender\'s clock, and that it writes times in nanoseconds');
      expect(received.length - before).toBe(spans.length - 2);
      expect(received.slice(before).map((s) => s.spanId)).toEqual(expect.arrayContaining(['dd00000000000003', 'dd00000000000004']));
      expect(received.slice(before).map((s) => s.spanId)).not.toContain('dd00000000000001');
      expect(receiver.counters.spansTooOld - oldBefore).toBe(2);
      expect(receiver.counters.spansSkewed).toBe(skewedBefore);
    } finally {
      eventTime = 0;
    }
  });

  it('rejects garbage and truncated protobuf with 400 and a google.rpc.Status, and keeps serving', async () => {
    const garbage = await post(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2]), 'application/x-protobuf');
    expect(garbage.status).toBe(400);
    const status = Status.toObject(Status.decode(Buffer.from(await garbage.arrayBuffer()))) as any;
    expect(status.message).toMatch(/cannot decode application\/x-protobuf ExportTraceServiceRequest: length \d+ runs past the end/);
    expect(status.code).toBe(3); // INVALID_ARGUMENT, not 0 (OK)
    const full = toProto(json().doc);
    const truncated = await post(full.subarray(0, full.length - 7), 'application/x-protobuf');
    expect(truncated.status).toBe(400);
    const notJson = await post('{"resourceSpans": [', 'application/json');
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({ code: 3, message: expect.stringMatching(/not valid JSON/) });
    const wrongShape = await post('{"resourceSpans": 5}', 'application/json');
    expect(wrongShape.status).toBe(400);
    expect((await wrongShape.json()).message).toMatch(/request\.resourceSpans must be an array/);
    const badGzip = await post(Buffer.from('not gzip'), 'application/json', { 'content-encoding': 'gzip' });
    expect(badGzip.status).toBe(400);
    expect(receiver.counters.badRequests.malformed).toBeGreaterThanOrEqual(4);
    expect((await post(toProto(json().doc), 'application/x-protobuf')).status).toBe(200);
  });

  it('answers 413 for bodies over the limit, before and after decompression (zip bombs)', async () => {
    const big = await post(Buffer.alloc(300 * 1024, 1), 'application/x-protobuf');
    expect(big.status).toBe(413);
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0));
    expect(bomb.length).toBeLessThan(256 * 1024);
    const res = await post(bomb, 'application/x-protobuf', { 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(Status.toObject(Status.decode(Buffer.from(await res.arrayBuffer())))).toEqual({ code: 8, message: expect.stringMatching(/exceeds 262144 bytes/) });
    for (const [encoding, body] of [['zstd', rleFrame(80)], ['deflate', deflateSync(Buffer.alloc(10 * 1024 * 1024, 0))]] as const) {
      expect(body.length, encoding).toBeLessThan(256 * 1024);
      expect((await post(body, 'application/x-protobuf', { 'content-encoding': encoding })).status, encoding).toBe(413);
    }
  });

  it('answers a GET on the traces path with 405 and what it takes, and a logs or metrics path with what chainwatch reads', async () => {
    const get = await fetch(url);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(await get.json()).toEqual({ code: 12, message: expect.stringMatching(/GET is not allowed on \/v1\/traces: POST an OTLP ExportTraceServiceRequest/) });
    expect(receiver.counters.badRequests.method_not_allowed).toBe(1);
    const logs = await fetch(url.replace('/v1/traces', '/v1/logs'), { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.alloc(0) });
    expect(logs.status).toBe(404);
    expect((Status.toObject(Status.decode(Buffer.from(await logs.arrayBuffer()))) as any).message).toMatch(/chainwatch takes traces only; point the traces exporter at \/v1\/traces/);
  });

  it('refuses traces with 404 and the reason when this instance takes none (a Kafka worker), and keeps its probes', async () => {
    receiver.refuseTraces = 'this chainwatch runs the Kafka detect stage and reads its telemetry from the topic otlp_spans';
    try {
      const before = received.length;
      const res = await post(toProto(json().doc), 'application/x-protobuf');
      expect(res.status).toBe(404);
      expect(Status.toObject(Status.decode(Buffer.from(await res.arrayBuffer())))).toEqual({ code: 5, message: 'this chainwatch runs the Kafka detect stage and reads its telemetry from the topic otlp_spans' });
      expect(received.length).toBe(before);
      expect(receiver.counters.badRequests.misdirected).toBe(1);
      expect((await fetch(url.replace('/v1/traces', '/healthz'))).status).toBe(200);
    } finally {
      receiver.refuseTraces = undefined;
    }
  });

  it('cuts huge attribute values instead of keeping them whole', async () => {
    const doc: any = json().doc;
    const tool = doc.resourceSpans[0].scopeSpans[0].spans.find((s: any) => s.name.startsWith('execute_tool'));
    tool.attributes.push({ key: 'gen_ai.tool.call.arguments', value: { stringValue: 'x'.repeat(200_000) } });
    const before = received.length;
    expect((await post(JSON.stringify(doc), 'application/json')).status).toBe(200);
    const kept = received.slice(before).find((s) => s.attrs.get(args) !== undefined)!;
    expect((kept.attrs.get(args) as string).length).toBe(16_384);
  });

  it('answers 415 for other media types and 503 with Retry-After under backpressure', async () => {
    const res = await post('hello', 'text/plain');
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({ code: 3, message: expect.stringMatching(/send application\/x-protobuf or application\/json/) });
    saturated = true;
    try {
      const busy = await post(toProto(json().doc), 'application/x-protobuf');
      expect(busy.status).toBe(503);
      expect(busy.headers.get('retry-after')).toBe('7');
      expect((Status.toObject(Status.decode(Buffer.from(await busy.arrayBuffer()))) as any).code).toBe(14); // UNAVAILABLE
    } finally {
      saturated = false;
    }
    expect(receiver.counters.badRequests.backpressure).toBe(1);
  });
});
