/**
 * Differential tests of the targeted decoder: against protobufjs (reflection over
 * schemas/otlp/trace.proto) on generated and fuzzed requests, and against the OpenTelemetry JS
 * SDK's own protobuf serializer. Garbage must end in OtlpDecodeError, never a hang or a crash.
 */
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SpanKind as ApiSpanKind, SpanStatusCode } from '@opentelemetry/api';
import { KeyFilter } from '../src/attribute-map.js';
import { decodeTraceRequest, encodeExportResponse, selectSpans } from '../src/otlp-proto.js';
import { selectSpansJson } from '../src/otlp-json.js';
import { OtlpDecodeError } from '../src/errors.js';
import type { AttrValue } from '../src/span.js';
import { rng } from './helpers/rng.js';

// protobufjs types Long loosely; these are the static helpers of the 'long' package.
const Long = protobuf.util.Long as unknown as { fromNumber(n: number): unknown; fromString(s: string, unsigned: boolean): unknown; fromValue(v: unknown): { toNumber(): number; toString(): string } };
const root = protobuf.loadSync(fileURLToPath(new URL('../schemas/otlp/trace.proto', import.meta.url)));
const Request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
const Response = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');

const WANTED = ['gen_ai.agent.id', 'url.full', 'http.request.method', 'server.port', 'gen_ai.tool.call.arguments', 'ratio', 'flag', 'tags', 'nested', 'blob', 'neg'];
const OTHER = ['noise.a', 'noise.b', 'x', 'service.version'];
// Two keys whose values the decoder reads without its cache of recent strings (as normalize's filter does).
const filter = new KeyFilter(WANTED, ['url.full', 'gen_ai.tool.call.arguments']);

function bytes(r: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

/**
 * Strings of every kind the decoder treats apart: non-ASCII, short ASCII that repeats (its cache
 * of recent strings hits) or differs by one character at the end, empty, and ASCII past the cache's width.
 */
function stringValue(r: () => number): string {
  const k = Math.floor(r() * 5);
  if (k === 0) return `s${Math.floor(r() * 1e6)}-ü✓`;
  if (k === 1) return `tool_${Math.floor(r() * 4)}`;
  if (k === 2) return 'x'.repeat(Math.floor(r() * 60)) + String.fromCharCode(97 + Math.floor(r() * 26));
  if (k === 3) return '';
  return `https://h${Math.floor(r() * 1e6)}.example/${'p'.repeat(Math.floor(r() * 50))}`;
}

function anyValue(r: () => number, depth: number): Record<string, unknown> {
  const k = Math.floor(r() * (depth > 2 ? 5 : 7));
  switch (k) {
    case 0: return { stringValue: stringValue(r) };
    case 1: return { boolValue: r() < 0.5 };
    case 2: return { intValue: Long.fromNumber(Math.floor((r() - 0.5) * 2 ** 50)) };
    case 3: return { doubleValue: (r() - 0.5) * 1e6 };
    case 4: return { bytesValue: bytes(r, 5) };
    case 5: return { arrayValue: { values: [anyValue(r, depth + 1), anyValue(r, depth + 1)] } };
    default: return { kvlistValue: { values: [{ key: 'inner', value: anyValue(r, depth + 1) }] } };
  }
}

function request(seed: number): Record<string, unknown> {
  const r = rng(seed);
  const attrs = () => [...WANTED, ...OTHER].filter(() => r() < 0.6).map((key) => ({ key, value: anyValue(r, 0) }));
  return {
    resourceSpans: Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({
      resource: { attributes: attrs() },
      scopeSpans: Array.from({ length: 1 + Math.floor(r() * 2) }, () => ({
        scope: { name: 'lib', version: '1' },
        spans: Array.from({ length: Math.floor(r() * 6) }, () => ({
          traceId: bytes(r, 16), spanId: bytes(r, 8), parentSpanId: r() < 0.5 ? bytes(r, 8) : new Uint8Array(0),
          name: `span-${Math.floor(r() * 100)}`, kind: Math.floor(r() * 6),
          startTimeUnixNano: Long.fromString(String(1_767_225_600_000_000_000n + BigInt(Math.floor(r() * 1e15))), true),
          endTimeUnixNano: Long.fromString(String(1_767_225_700_000_000_000n + BigInt(Math.floor(r() * 1e15))), true),
          attributes: attrs(), status: { code: Math.floor(r() * 3), message: 'm' },
          events: [{ name: 'e', attributes: attrs() }], links: r() < 0.3 ? [{ traceId: bytes(r, 16), spanId: bytes(r, 8) }] : [], flags: 257,
        })),
      })),
    })),
  };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** What our decoder should produce for a protobufjs-decoded AnyValue. */
function expected(v: any): AttrValue {
  if (v == null) return null;
  if (v.stringValue !== undefined && v.stringValue !== null && v.value === 'stringValue') return v.stringValue;
  switch (v.value) {
    case 'stringValue': return v.stringValue;
    case 'boolValue': return v.boolValue;
    case 'intValue': return Long.fromValue(v.intValue).toNumber();
    case 'doubleValue': return v.doubleValue;
    case 'bytesValue': return Buffer.from(v.bytesValue).toString('base64');
    case 'arrayValue': return (v.arrayValue.values ?? []).map(expected);
    case 'kvlistValue': return Object.fromEntries((v.kvlistValue.values ?? []).map((kv: any) => [kv.key, expected(kv.value)]));
    default: return null;
  }
}

function expectedAttrs(list: any[] | undefined): Record<string, AttrValue> {
  return Object.fromEntries((list ?? []).filter((kv) => WANTED.includes(kv.key)).map((kv) => [kv.key, expected(kv.value)]));
}

const nsToMs = (l: any): number => Number(BigInt(Long.fromValue(l).toString()) / 1000n) / 1000;

/** A span's times (a span without them is rejected). */
const TIMES = { startTimeUnixNano: '1780000000000000000', endTimeUnixNano: '1780000000100000000' };

describe('targeted OTLP protobuf decoder', () => {
  it('agrees with protobufjs on 300 generated requests', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const msg = Request.fromObject(request(seed));
      const buf = Request.encode(msg).finish();
      const ref = Request.toObject(Request.decode(buf), { oneofs: true }) as any;
      const ours = decodeTraceRequest(buf, filter);
      const refSpans = (ref.resourceSpans ?? []).flatMap((rs: any) => (rs.scopeSpans ?? []).flatMap((ss: any) => (ss.spans ?? []).map((s: any) => ({ s, res: rs.resource }))));
      expect(ours.spans.length + ours.rejected).toBe(refSpans.length);
      const good = refSpans.filter(({ s }: any) => hex(s.traceId).replace(/0/g, '') !== '' && hex(s.spanId).replace(/0/g, '') !== '');
      ours.spans.forEach((span, i) => {
        const { s, res } = good[i];
        expect(span.traceId).toBe(hex(s.traceId));
        expect(span.spanId).toBe(hex(s.spanId));
        expect(span.parentSpanId).toBe(s.parentSpanId ? hex(s.parentSpanId) : '');
        expect(span.name).toBe(s.name);
        expect(span.kind).toBe(s.kind ?? 0);
        expect(span.statusCode).toBe(s.status?.code ?? 0);
        // Times are kept as float ms: ~0.25 µs resolution at today's epoch, asserted to 10 µs.
        expect(span.startMs).toBeCloseTo(nsToMs(s.startTimeUnixNano), 2);
        expect(span.endMs).toBeCloseTo(nsToMs(s.endTimeUnixNano), 2);
        expect(span.attrs.toObject(filter.names)).toEqual(expectedAttrs(s.attributes));
        expect(span.resource.toObject(filter.names)).toEqual(expectedAttrs(res?.attributes));
      });
    }
  });

  it('selects spans as a request of their own: each as sent, with its resource and scope, nothing else (a dead letter\'s content)', () => {
    const norm = (o: any): any => JSON.parse(JSON.stringify(o));
    for (let seed = 1; seed <= 200; seed++) {
      const buf = Request.encode(Request.fromObject(request(seed))).finish();
      const ref = Request.toObject(Request.decode(buf), { oneofs: true, longs: String, bytes: String }) as any;
      // Every third span by its place in the request (the pick sees decoded spans: their names and ids).
      const r = rng(seed * 7);
      const chosen = new Set<string>();
      const want = { resourceSpans: [] as any[] };
      for (const rs of ref.resourceSpans ?? []) {
        const scopeSpans: any[] = [];
        for (const ss of rs.scopeSpans ?? []) {
          const spans = (ss.spans ?? []).filter((s: any) => {
            const take = r() < 0.35;
            if (take) chosen.add(Buffer.from(s.spanId, 'base64').toString('hex'));
            return take;
          });
          if (spans.length > 0) scopeSpans.push({ ...ss, spans });
        }
        if (scopeSpans.length > 0) want.resourceSpans.push({ ...rs, scopeSpans });
      }
      const picked = selectSpans(buf, filter, (span) => chosen.has(span.spanId));
      const got = Request.toObject(Request.decode(picked), { oneofs: true, longs: String, bytes: String }) as any;
      expect(norm(got.resourceSpans ?? [])).toEqual(norm(want.resourceSpans));
      // The same through OTLP/JSON: the JSON the Collector writes, with the same spans picked.
      const json = JSON.stringify({ resourceSpans: (ref.resourceSpans ?? []).map((rs: any) => ({ ...rs, scopeSpans: (rs.scopeSpans ?? []).map((ss: any) => ({ ...ss, spans: (ss.spans ?? []).map((s: any) => ({ ...s, traceId: Buffer.from(s.traceId, 'base64').toString('hex'), spanId: Buffer.from(s.spanId, 'base64').toString('hex'), parentSpanId: Buffer.from(s.parentSpanId ?? '', 'base64').toString('hex'), attributes: [] })) })) })) });
      const fromJson = JSON.parse(selectSpansJson(json, filter, (span) => span !== undefined && chosen.has(span.spanId)));
      const ids = fromJson.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((s: any) => s.spanId)));
      expect(ids).toEqual(want.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((s: any) => Buffer.from(s.spanId, 'base64').toString('hex')))));
      expect(fromJson.resourceSpans.map((rs: any) => rs.resource)).toEqual(norm(want.resourceSpans.map((rs: any) => rs.resource)));
    }
  });

  it('cuts huge string values at 16,384 bytes, cached keys and uncached ones alike', () => {
    const huge = 'é'.repeat(10) + 'x'.repeat(200_000);
    const buf = Request.encode(Request.fromObject({
      resourceSpans: [{ scopeSpans: [{ spans: [{
        traceId: bytes(rng(1), 16), spanId: bytes(rng(2), 8), name: 's', startTimeUnixNano: 1, endTimeUnixNano: 2,
        attributes: [{ key: 'gen_ai.tool.call.arguments', value: { stringValue: huge } }, { key: 'gen_ai.agent.id', value: { stringValue: huge } }],
      }] }] }],
    })).finish();
    const [span] = decodeTraceRequest(buf, filter).spans;
    const want = Buffer.from(huge).subarray(0, 16_384).toString('utf8');
    expect(span.attrs.get(filter.index('gen_ai.tool.call.arguments'))).toBe(want);
    expect(span.attrs.get(filter.index('gen_ai.agent.id'))).toBe(want);
  });

  it('reads string values of every length around a one-byte length\'s edge (127 bytes), ASCII and not', () => {
    const lengths = [0, 1, 2, 47, 48, 49, 125, 126, 127, 128, 129, 130, 200, 300];
    const values = lengths.flatMap((n) => ['a'.repeat(n), 'é'.repeat(n >> 1) + 'z'.repeat(n & 1)]);
    const r = rng(9);
    const spans = values.map((v) => ({
      traceId: bytes(r, 16), spanId: bytes(r, 8), name: 's', ...TIMES,
      attributes: [{ key: 'gen_ai.agent.id', value: { stringValue: v } }, { key: 'http.request.method', value: { stringValue: v } }],
    }));
    const buf = Request.encode(Request.fromObject({ resourceSpans: [{ scopeSpans: [{ spans }] }] })).finish();
    const got = decodeTraceRequest(buf, filter).spans.map((sp) => sp.attrs.toObject(filter.names));
    expect(got).toEqual(values.map((v) => ({ 'gen_ai.agent.id': v, 'http.request.method': v })));
  });

  it('refuses a string value whose length runs past its attribute, whatever its first length byte', () => {
    // Written by hand: a string_value that says 133 bytes (0x85 0x01) in an AnyValue of 135 bytes,
    // one short — its first length byte, 0x85, is the AnyValue's length less two.
    const field = (n: number, body: Uint8Array): Uint8Array => {
      const len: number[] = [];
      for (let v = body.length; ; v >>>= 7) {
        if (v < 0x80) {
          len.push(v);
          break;
        }
        len.push((v & 0x7f) | 0x80);
      }
      return Uint8Array.from([(n << 3) | 2, ...len, ...body]);
    };
    const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
    const fixed64 = (n: number, v: bigint): Uint8Array => cat(Uint8Array.of((n << 3) | 1), new Uint8Array(new BigUint64Array([v]).buffer));
    const anyValue = cat(Uint8Array.of(0x0a, 0x85, 0x01), new Uint8Array(132).fill(0x61));
    expect(anyValue.length).toBe(135);
    const keyValue = cat(field(1, Buffer.from('gen_ai.agent.id')), field(2, anyValue));
    const span = cat(field(1, bytes(rng(3), 16)), field(2, bytes(rng(4), 8)), fixed64(7, 1_780_000_000_000_000_000n), fixed64(8, 1_780_000_000_100_000_000n), field(9, keyValue));
    const buf = field(1, field(2, field(2, span)));
    expect(() => decodeTraceRequest(buf, filter)).toThrow(OtlpDecodeError);
  });

  it('never answers a string from its cache of recent strings for different bytes of the same length', () => {
    // 20,000 distinct values of one length, twice over: far more than the cache has slots, so
    // values share slots and each slot is overwritten many times.
    const values = Array.from({ length: 20_000 }, (_, i) => `agent-${i.toString(36).padStart(6, '0')}`);
    const r = rng(7);
    const spans = [...values, ...values].map((v) => ({
      traceId: bytes(r, 16), spanId: bytes(r, 8), name: v, ...TIMES,
      attributes: [{ key: 'gen_ai.agent.id', value: { stringValue: v } }],
    }));
    const buf = Request.encode(Request.fromObject({ resourceSpans: [{ scopeSpans: [{ spans }] }] })).finish();
    const ours = decodeTraceRequest(buf, filter);
    const want = [...values, ...values];
    expect(ours.spans).toHaveLength(want.length);
    const wrong = ours.spans.filter((s, i) => s.name !== want[i] || s.attrs.toObject(filter.names)['gen_ai.agent.id'] !== want[i]);
    expect(wrong.slice(0, 3).map((s) => s.name)).toEqual([]);
  });

  it('never answers a string from its cache for bytes that differ anywhere, at every length it caches', () => {
    // The cache's slot is a hash of a few sampled bytes, and a hit is confirmed four bytes at a
    // time and then byte by byte: each value differs from the one before it at one position
    // only, of every length from 1 to 48, so a value that shares its slot is told apart by the
    // compare alone.
    const base = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL';
    const values: string[] = [];
    for (let len = 1; len <= 48; len++) {
      for (let at = 0; at < len; at++) values.push(base.slice(0, len), `${base.slice(0, at)}#${base.slice(at + 1, len)}`);
    }
    // And 8,100 values that share their first 12 bytes (three words) and differ in their last two:
    // nearly as many as the cache has slots, so many share one, told apart by the tail alone.
    const tails = Array.from({ length: 90 }, (_, i) => String.fromCharCode(33 + i));
    for (const a of tails) for (const b of tails) values.push(`shared-words${a}${b}`);
    const r = rng(9);
    const spans = values.map((v) => ({ traceId: bytes(r, 16), spanId: bytes(r, 8), name: v, ...TIMES }));
    const buf = Request.encode(Request.fromObject({ resourceSpans: [{ scopeSpans: [{ spans }] }] })).finish();
    const names = decodeTraceRequest(buf, filter).spans.map((s) => s.name);
    expect(names.filter((n, i) => n !== values[i]).slice(0, 3)).toEqual([]);
  });

  it('tells trace ids apart that differ in any one byte, span after span', () => {
    const first = Buffer.from(bytes(rng(3), 16));
    const ids: Buffer[] = [];
    for (let at = 0; at < 16; at++) {
      const other = Buffer.from(first);
      other[at] ^= 0x5a;
      ids.push(first, other);
    }
    const r = rng(4);
    const spans = ids.map((traceId) => ({ traceId, spanId: bytes(r, 8), name: 's', ...TIMES }));
    const buf = Request.encode(Request.fromObject({ resourceSpans: [{ scopeSpans: [{ spans }] }] })).finish();
    expect(decodeTraceRequest(buf, filter).spans.map((s) => s.traceId)).toEqual(ids.map((b) => b.toString('hex')));
  });

  it('takes a wanted attribute by its exact name only, not a name of its length that differs in any byte', () => {
    const attributes: { key: string; value: { stringValue: string } }[] = [];
    for (const name of WANTED) {
      for (let at = 0; at < name.length; at++) attributes.push({ key: `${name.slice(0, at)}${name[at] === '#' ? '$' : '#'}${name.slice(at + 1)}`, value: { stringValue: `near ${name}` } });
    }
    const r = rng(5);
    const near = { traceId: bytes(r, 16), spanId: bytes(r, 8), name: 'near', ...TIMES, attributes };
    const exact = { traceId: bytes(r, 16), spanId: bytes(r, 8), name: 'exact', ...TIMES, attributes: WANTED.map((key) => ({ key, value: { stringValue: key } })) };
    const buf = Request.encode(Request.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [near, exact] }] }] })).finish();
    const [a, b] = decodeTraceRequest(buf, filter).spans;
    expect(a.attrs.toObject(filter.names)).toEqual({});
    expect(b.attrs.toObject(filter.names)).toEqual(Object.fromEntries(WANTED.map((k) => [k, k])));
  });

  it('reads attributes whatever their layout: value before key, keys of 128 bytes and more, wanted or not, apart or together', () => {
    // SDKs write the key first with one-byte tag and length (the decoder's fast path); protobuf
    // allows either order and longer keys, which take the general path.
    const longWanted = `gen_ai.${'w'.repeat(150)}`;
    const longOther = `noise.${'o'.repeat(200)}`;
    const local = new KeyFilter([...WANTED, longWanted]);
    const KeyValue = root.lookupType('opentelemetry.proto.collector.trace.v1.KeyValue');
    const AnyValue = root.lookupType('opentelemetry.proto.collector.trace.v1.AnyValue');
    const Span = root.lookupType('opentelemetry.proto.collector.trace.v1.Span');
    const varint = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...varint(n >>> 7)]);
    const field = (tag: number, body: Uint8Array | number[]): number[] => [tag, ...varint(body.length), ...body];
    const str = (s: string): number[] => [...Buffer.from(s)];
    const valueFirst = (key: string, value: string): number[] =>
      field(0x4a, [...field(0x12, AnyValue.encode(AnyValue.fromObject({ stringValue: value })).finish()), ...field(0x0a, str(key))]);
    const keyFirst = (key: string, value: string): number[] => field(0x4a, KeyValue.encode(KeyValue.fromObject({ key, value: { stringValue: value } })).finish());
    const r = rng(17);
    const span = Span.encode(Span.fromObject({ traceId: bytes(r, 16), spanId: bytes(r, 8), name: 'layouts', ...TIMES })).finish();
    const spanBytes = [
      ...span,
      ...valueFirst('gen_ai.agent.id', 'agent-7'), ...valueFirst('noise.a', 'skipped'),
      // Another field between attributes (dropped_attributes_count: 2): those after it are still read.
      0x50, 0x02,
      ...keyFirst(longWanted, 'long key kept'), ...keyFirst(longOther, 'long key skipped'), ...valueFirst(longWanted.replace('gen_ai', 'gen-ai'), 'near miss'),
      ...keyFirst('url.full', 'https://x.example/a'),
    ];
    const buf = Uint8Array.from(field(0x0a, field(0x12, field(0x12, spanBytes))));
    const [decoded] = decodeTraceRequest(buf, local).spans;
    expect(decoded.attrs.toObject(local.names)).toEqual({ 'gen_ai.agent.id': 'agent-7', [longWanted]: 'long key kept', 'url.full': 'https://x.example/a' });
    // protobufjs reads the same request to the same attributes.
    const ref = Request.toObject(Request.decode(buf), { longs: String }) as any;
    expect(Object.fromEntries(ref.resourceSpans[0].scopeSpans[0].spans[0].attributes.map((kv: any) => [kv.key, kv.value.stringValue]))).toMatchObject({ 'gen_ai.agent.id': 'agent-7', [longWanted]: 'long key kept', 'noise.a': 'skipped' });
  });

  it('names the field and both wire types when a field comes with the wrong one, at every level', () => {
    const wrapSpan = (span: number[]): Uint8Array => Uint8Array.from([0x0a, span.length + 4, 0x12, span.length + 2, 0x12, span.length, ...span]);
    const ids = [0x0a, 16, ...new Array<number>(16).fill(1), 0x12, 8, ...new Array<number>(8).fill(2)];
    const cases: [Uint8Array, string][] = [
      [Uint8Array.from([0x08, 1]), 'field resource_spans has wire type 0, expected 2'],
      [Uint8Array.from([0x0a, 2, 0x10, 1]), 'field scope_spans has wire type 0, expected 2'],
      [Uint8Array.from([0x0a, 4, 0x12, 2, 0x10, 1]), 'field spans has wire type 0, expected 2'],
      [wrapSpan([0x08, 1]), 'field trace_id has wire type 0, expected 2'],
      [wrapSpan([...ids, 0x28, 1]), 'field name has wire type 0, expected 2'],
      [wrapSpan([...ids, 0x32, 0]), 'field kind has wire type 2, expected 0'],
      [wrapSpan([...ids, 0x38, 1]), 'field start_time_unix_nano has wire type 0, expected 1'],
      [wrapSpan([...ids, 0x48, 1]), 'field attributes has wire type 0, expected 2'],
      [wrapSpan([...ids, 0x4a, 4, 0x12, 2, 0x08, 1]), 'field string_value has wire type 0, expected 2'],
      [wrapSpan([...ids, 0x7d, 0, 0, 0, 0]), 'field status has wire type 5, expected 2'],
    ];
    for (const [buf, message] of cases) {
      expect(() => decodeTraceRequest(buf, filter), message).toThrow(OtlpDecodeError);
      expect(() => decodeTraceRequest(buf, filter)).toThrow(message);
    }
  });

  it('never answers a span id from its cache of recent ids for different bytes, and shares the string with a child', () => {
    // 20,000 ids whose first two bytes repeat (the cache's slot key), each a parent of the next:
    // every slot is overwritten many times, and parent ids hit the entries their parents left.
    const r = rng(11);
    const ids = Array.from({ length: 20_000 }, (_, i) => Buffer.concat([Buffer.from([i & 0xff, 7]), Buffer.from(bytes(r, 6))]));
    const spans = ids.map((spanId, i) => ({ traceId: bytes(r, 16), spanId, parentSpanId: i ? ids[i - 1] : Buffer.alloc(0), name: 's', ...TIMES }));
    const buf = Request.encode(Request.fromObject({ resourceSpans: [{ scopeSpans: [{ spans }] }] })).finish();
    const ours = decodeTraceRequest(buf, filter).spans;
    const hex = ids.map((b) => b.toString('hex'));
    expect(ours.filter((s, i) => s.spanId !== hex[i] || s.parentSpanId !== (i ? hex[i - 1] : '')).slice(0, 3)).toEqual([]);
    expect(ours.filter((s, i) => i > 0 && s.parentSpanId === ours[i - 1].spanId).length).toBe(ids.length - 1);
  });

  it('decodes what the OpenTelemetry JS SDK serializes', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'billing-svc', 'gen_ai.agent.id': 'agt-42' }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('t');
    const span = tracer.startSpan('POST', { kind: ApiSpanKind.CLIENT, attributes: { 'http.request.method': 'POST', 'url.full': 'https://pay.example/v1/refunds', 'server.port': 443, tags: ['a', 'b'], ratio: 0.25, flag: true, neg: -5 } });
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
    await provider.forceFlush();
    const [finished] = exporter.getFinishedSpans();
    const buf = ProtobufTraceSerializer.serializeRequest([finished])!;
    const { spans, rejected } = decodeTraceRequest(buf, filter);
    expect(rejected).toBe(0);
    expect(spans).toHaveLength(1);
    const s = spans[0];
    expect(s.traceId).toBe(finished.spanContext().traceId);
    expect(s.spanId).toBe(finished.spanContext().spanId);
    expect(s.kind).toBe(3); // OTLP CLIENT, not the API's 2
    expect(s.statusCode).toBe(2);
    expect(s.attrs.toObject(filter.names)).toEqual({ 'http.request.method': 'POST', 'url.full': 'https://pay.example/v1/refunds', 'server.port': 443, tags: ['a', 'b'], ratio: 0.25, flag: true, neg: -5 });
    expect(s.resource.toObject(filter.names)['gen_ai.agent.id']).toBe('agt-42');
    const [sec, nanos] = finished.startTime;
    expect(s.startMs).toBeCloseTo(sec * 1000 + nanos / 1e6, 3);
  });

  it('rejects spans with missing or zero ids without failing the batch', () => {
    const req = request(5) as any;
    req.resourceSpans[0].scopeSpans[0].spans.push({ traceId: new Uint8Array(16), spanId: bytes(rng(1), 8), name: 'zero' }, { spanId: bytes(rng(2), 8), name: 'missing' });
    const out = decodeTraceRequest(Request.encode(Request.fromObject(req)).finish(), filter);
    expect(out.rejected).toBeGreaterThanOrEqual(2);
    expect(out.reasons.join()).toMatch(/trace_id/);
  });

  it('throws OtlpDecodeError on every truncation of a valid request, and never hangs on fuzzed bytes', () => {
    const buf = Request.encode(Request.fromObject(request(42))).finish();
    for (let n = 1; n < buf.length; n += Math.max(1, Math.floor(buf.length / 200))) {
      try {
        decodeTraceRequest(buf.subarray(0, n), filter);
      } catch (err) {
        expect(err).toBeInstanceOf(OtlpDecodeError);
      }
    }
    const r = rng(99);
    let decodedOk = 0;
    let canonicalSeen = 0;
    for (let i = 0; i < 3000; i++) {
      const fuzzed = Uint8Array.from(buf);
      for (let k = 0; k < 1 + Math.floor(r() * 8); k++) fuzzed[Math.floor(r() * fuzzed.length)] = Math.floor(r() * 256);
      try {
        decodeTraceRequest(fuzzed, filter);
        decodedOk++;
      } catch (err) {
        expect(err).toBeInstanceOf(OtlpDecodeError);
      }
      // protobufjs tolerates wrong wire types on known fields, so only inputs that are canonical
      // protobuf (it re-encodes them byte for byte) must decode, and then to the same spans.
      let canonical = false;
      try {
        canonical = Buffer.from(Request.encode(Request.decode(fuzzed)).finish()).equals(Buffer.from(fuzzed));
      } catch {
        canonical = false;
      }
      if (canonical) {
        const ours = decodeTraceRequest(fuzzed, filter);
        const ref = Request.toObject(Request.decode(fuzzed)) as any;
        const n = (ref.resourceSpans ?? []).flatMap((rs: any) => (rs.scopeSpans ?? []).flatMap((ss: any) => ss.spans ?? [])).length;
        expect(ours.spans.length + ours.rejected).toBe(n);
        canonicalSeen++;
      }
    }
    expect(decodedOk).toBeGreaterThan(0);
    expect(canonicalSeen).toBeGreaterThan(0);
    for (let i = 0; i < 500; i++) {
      const junk = bytes(r, 1 + Math.floor(r() * 200));
      try {
        decodeTraceRequest(junk, filter);
      } catch (err) {
        expect(err).toBeInstanceOf(OtlpDecodeError);
      }
    }
  });

  it('encodes partial-success responses that protobufjs reads back', () => {
    const out = Response.toObject(Response.decode(encodeExportResponse(3, 'rejected 3 spans')), { longs: Number }) as any;
    expect(out).toEqual({ partialSuccess: { rejectedSpans: 3, errorMessage: 'rejected 3 spans' } });
    expect(encodeExportResponse(0, '')).toHaveLength(0);
  });
});
