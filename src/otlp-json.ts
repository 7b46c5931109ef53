/**
 * OTLP/JSON ExportTraceServiceRequest → RawSpan. OTLP/JSON differs from generic proto3 JSON:
 * ids are hex (not base64), enums are integers, 64-bit integers are decimal strings (numbers are
 * accepted too), unknown fields are ignored. A span with a wrong-typed field is rejected with a
 * reason naming the field; a request whose structure is wrong throws OtlpDecodeError.
 */
import { OtlpDecodeError } from './errors.js';
import type { KeyFilter } from './attribute-map.js';
import { type AttrValue, Attrs, type DecodedBatch, RawSpan, rejectSpan, spanProblem } from './span.js';
import { MAX_VALUE_CHARS } from './otlp-proto.js';

type Json = unknown;

const KIND_NAMES: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5,
};
const STATUS_NAMES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };
const HEX_RE = /^[0-9a-fA-F]*$/;

class SpanFieldError extends Error {}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function arrayField(obj: Record<string, Json>, key: string, where: string): Json[] {
  const v = obj[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new OtlpDecodeError(`${where}.${key} must be an array, got ${typeof v}`);
  return v;
}

/** Decode a parsed OTLP/JSON request (or a JSON string of one). */
export function decodeTraceRequestJson(input: Json | string, filter: KeyFilter): DecodedBatch {
  let doc: Json = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    try {
      doc = JSON.parse(typeof input === 'string' ? input : Buffer.from(input).toString('utf8'));
    } catch (err) {
      throw new OtlpDecodeError(`body is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (!isObject(doc)) throw new OtlpDecodeError('OTLP/JSON request must be an object with "resourceSpans"');
  const batch: DecodedBatch = { spans: [], rejected: 0, reasons: [] };
  const resourceSpans = arrayField(doc, 'resourceSpans', 'request');
  resourceSpans.forEach((rs, i) => {
    const where = `resourceSpans[${i}]`;
    if (!isObject(rs)) throw new OtlpDecodeError(`${where} must be an object`);
    const resource = new Attrs();
    try {
      if (isObject(rs.resource)) readAttributes(arrayField(rs.resource, 'attributes', `${where}.resource`), filter, resource);
    } catch (err) {
      // Its spans' identity comes from the resource: they are rejected, counted, and the rest of the request is read.
      if (!(err instanceof SpanFieldError)) throw err;
      const spans = Array.isArray(rs.scopeSpans) ? rs.scopeSpans.reduce((n: number, ss) => n + (isObject(ss) && Array.isArray(ss.spans) ? ss.spans.length : 0), 0) : 0;
      for (let k = 0; k < spans; k++) rejectSpan(batch, `${where}.resource: ${err.message}`);
      return;
    }
    arrayField(rs, 'scopeSpans', where).forEach((ss, j) => {
      if (!isObject(ss)) throw new OtlpDecodeError(`${where}.scopeSpans[${j}] must be an object`);
      for (const raw of arrayField(ss, 'spans', `${where}.scopeSpans[${j}]`)) {
        try {
          const span = readSpan(raw, filter, resource);
          const problem = spanProblem(span);
          if (problem) rejectSpan(batch, problem);
          else batch.spans.push(span);
        } catch (err) {
          if (err instanceof SpanFieldError) rejectSpan(batch, err.message);
          else throw err;
        }
      }
    });
  });
  return batch;
}

/**
 * The spans `pick` chooses out of an OTLP/JSON request that decoded before, as a request of their
 * own (see selectSpans in otlp-proto.ts): each span as sent, with its resource and scope; spans
 * not picked, and resources and scopes left without spans, left out. `pick` is given undefined for
 * a span that could not be read (a field of the wrong type, in it or in its resource).
 */
export function selectSpansJson(text: string, filter: KeyFilter, pick: (span: RawSpan | undefined) => boolean): string {
  const doc = JSON.parse(text) as Record<string, Json>;
  const resourceSpans: Json[] = [];
  for (const rs of arrayField(doc, 'resourceSpans', 'request')) {
    if (!isObject(rs)) continue;
    let resource: Attrs | undefined = new Attrs();
    try {
      if (isObject(rs.resource)) readAttributes(arrayField(rs.resource, 'attributes', 'resource'), filter, resource);
    } catch (err) {
      if (!(err instanceof SpanFieldError)) throw err;
      resource = undefined;
    }
    const scopeSpans: Json[] = [];
    for (const ss of arrayField(rs, 'scopeSpans', 'resourceSpans')) {
      if (!isObject(ss)) continue;
      const spans = arrayField(ss, 'spans', 'scopeSpans').filter((raw) => {
        if (resource === undefined) return pick(undefined);
        let span: RawSpan | undefined;
        try {
          span = readSpan(raw, filter, resource);
        } catch (err) {
          if (!(err instanceof SpanFieldError)) throw err;
        }
        return pick(span);
      });
      if (spans.length > 0) scopeSpans.push({ ...ss, spans });
    }
    if (scopeSpans.length > 0) resourceSpans.push({ ...rs, scopeSpans });
  }
  return JSON.stringify({ ...doc, resourceSpans });
}

function readSpan(raw: Json, filter: KeyFilter, resource: Attrs): RawSpan {
  if (!isObject(raw)) throw new SpanFieldError('span must be an object');
  const span = new RawSpan(resource);
  if (raw.attributes !== undefined && raw.attributes !== null) {
    if (!Array.isArray(raw.attributes)) throw new SpanFieldError('span.attributes must be an array of {key, value}');
    readAttributes(raw.attributes, filter, span);
  }
  if (isObject(raw.status) && raw.status.code !== undefined) span.statusCode = enumValue(raw.status.code, STATUS_NAMES, 'status.code');
  span.traceId = hexId(raw.traceId, 'traceId');
  span.spanId = hexId(raw.spanId, 'spanId');
  span.parentSpanId = raw.parentSpanId === undefined || raw.parentSpanId === null ? '' : hexId(raw.parentSpanId, 'parentSpanId');
  span.name = typeof raw.name === 'string' ? raw.name : '';
  span.kind = raw.kind === undefined ? 0 : enumValue(raw.kind, KIND_NAMES, 'kind');
  span.startMs = nanosToMs(raw.startTimeUnixNano, 'startTimeUnixNano');
  span.endMs = nanosToMs(raw.endTimeUnixNano, 'endTimeUnixNano');
  return span;
}

function hexId(v: Json, field: string): string {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string' || !HEX_RE.test(v)) throw new SpanFieldError(`span.${field} must be a hex string (OTLP/JSON ids are hex, not base64)`);
  return v.toLowerCase();
}

function enumValue(v: Json, names: Record<string, number>, field: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && v in names) return names[v];
  throw new SpanFieldError(`span.${field} must be an integer enum value`);
}

/** Nanosecond timestamps exceed 2^53: split the decimal string rather than parse it whole. */
export function nanosToMs(v: Json, field: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isFinite(v)) return v / 1e6;
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) {
    if (v.length <= 6) return Number(v) / 1e6;
    return Number(v.slice(0, -6)) + Number(v.slice(-6)) / 1e6;
  }
  throw new SpanFieldError(`span.${field} must be a decimal string or number of nanoseconds`);
}

function readAttributes(list: Json[], filter: KeyFilter, into: Attrs): void {
  for (const kv of list) {
    if (!isObject(kv) || typeof kv.key !== 'string') throw new SpanFieldError('attribute must be an object with a string "key"');
    const key = filter.matchString(kv.key);
    if (key >= 0) into.set(key, anyValue(kv.value, 0));
  }
}

function anyValue(v: Json, depth: number): AttrValue {
  if (depth > 8) throw new SpanFieldError('attribute value nested deeper than 8 levels');
  if (!isObject(v)) return null;
  if (typeof v.stringValue === 'string') return v.stringValue.length > MAX_VALUE_CHARS ? v.stringValue.slice(0, MAX_VALUE_CHARS) : v.stringValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  if (v.intValue !== undefined) {
    const n = typeof v.intValue === 'string' ? Number(v.intValue) : v.intValue;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new SpanFieldError('attribute intValue must be an integer or decimal string');
    return n;
  }
  if (v.doubleValue !== undefined) {
    const n = typeof v.doubleValue === 'string' ? Number(v.doubleValue) : v.doubleValue;
    if (typeof n !== 'number') throw new SpanFieldError('attribute doubleValue must be a number');
    return n;
  }
  if (isObject(v.arrayValue)) {
    const values = v.arrayValue.values;
    return Array.isArray(values) ? values.map((x) => anyValue(x, depth + 1)) : [];
  }
  if (isObject(v.kvlistValue)) {
    const out: { [k: string]: AttrValue } = {};
    const values = v.kvlistValue.values;
    if (Array.isArray(values)) {
      for (const kv of values) if (isObject(kv) && typeof kv.key === 'string') out[kv.key] = anyValue(kv.value, depth + 1);
    }
    return out;
  }
  if (typeof v.bytesValue === 'string') return v.bytesValue;
  return null;
}
