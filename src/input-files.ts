/**
 * Replay and history files: JSON lines, each either an OTLP/JSON ExportTraceServiceRequest (the
 * Collector file exporter's format) or one of our AgentCall records. The format is detected per
 * line by content. A bad line is counted and reported with file:line, never fatal.
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { KeyFilter } from './attribute-map.js';
import type { AgentCall } from './agent-call.js';
import { redactText, redactUrl } from './redact.js';
import { InputFormatError, OtlpDecodeError } from './errors.js';
import { decodeTraceRequestJson } from './otlp-json.js';
import { callProblem } from './call-schema.js';
import type { RawSpan } from './span.js';

export type InputRecord = { kind: 'spans'; spans: RawSpan[]; rejected: number } | { kind: 'call'; call: AgentCall };

export interface LineError {
  file: string;
  line: number;
  message: string;
}

/** Classify and decode one line. Throws InputFormatError for lines that are neither format. */
export function parseLine(text: string, filter: KeyFilter, file: string, line: number): InputRecord | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(t);
  } catch (err) {
    throw new InputFormatError(`not JSON: ${(err as Error).message}`, file, line);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InputFormatError('expected a JSON object per line', file, line);
  const obj = doc as Record<string, unknown>;
  if ('resourceSpans' in obj) {
    try {
      const batch = decodeTraceRequestJson(obj, filter);
      return { kind: 'spans', spans: batch.spans, rejected: batch.rejected };
    } catch (err) {
      if (err instanceof OtlpDecodeError) throw new InputFormatError(err.message, file, line);
      throw err;
    }
  }
  if (typeof obj.traceId === 'string' && typeof obj.spanId === 'string' && typeof obj.time === 'number' && typeof obj.agent === 'object' && obj.agent !== null && typeof obj.action === 'object') {
    const problem = callProblem(obj);
    if (problem !== undefined) throw new InputFormatError(`AgentCall line: ${problem}`, file, line);
    return { kind: 'call', call: redactCall(obj as unknown as AgentCall) };
  }
  throw new InputFormatError('line is neither an OTLP/JSON request ("resourceSpans") nor an AgentCall (traceId, spanId, time, agent, action)', file, line);
}

/**
 * AgentCall lines come from other tools as often as from us: redact them as normalize redacts
 * spans, so a secret in a replay file never reaches state, alerts or stores.
 */
function redactCall(c: AgentCall): AgentCall {
  if (typeof c.url === 'string') c.url = redactUrl(c.url);
  if (typeof c.resource === 'string') c.resource = redactText(c.resource);
  if (typeof c.credential === 'string') c.credential = redactText(c.credential);
  if (typeof c.outcome?.error === 'string') c.outcome.error = redactText(c.outcome.error);
  if (typeof c.action?.template === 'string') c.action.template = redactText(c.action.template);
  if (typeof c.action?.signature === 'string') c.action.signature = redactText(c.action.signature);
  if (Array.isArray(c.destinations)) for (const d of c.destinations) if (typeof d?.value === 'string') d.value = redactUrl(d.value);
  return c;
}

/** Stream records from files in order; errors go to `onError` and reading goes on. */
export async function* readInputs(files: string[], filter: KeyFilter, onError: (e: LineError) => void, onBytes?: (n: number) => void): AsyncGenerator<InputRecord> {
  for (const file of files) {
    const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    let line = 0;
    for await (const text of rl) {
      line++;
      onBytes?.(Buffer.byteLength(text) + 1);
      try {
        const rec = parseLine(text, filter, file, line);
        if (rec) yield rec;
      } catch (err) {
        if (err instanceof InputFormatError) onError({ file, line, message: err.message });
        else throw err;
      }
    }
  }
}

export function totalBytes(files: string[]): number {
  return files.reduce((n, f) => n + statSync(f).size, 0);
}
