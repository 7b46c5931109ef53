/**
 * Replay and history files: JSON lines, each either an OTLP/JSON ExportTraceServiceRequest (the
 * Collector file exporter's default format) or one of our AgentCall records, detected per line by
 * content; or the file exporter's length-prefixed messages (protobuf, or zstd-compressed JSON).
 * A file compressed as a whole (gzip, or zstd: archived telemetry, the exporter's native
 * compression) is told by its first bytes. `-` is standard input (`zcat spans.jsonl.gz |
 * chainwatch replay - …`), any of these alike. A bad line or message is counted and reported with
 * where it is, never fatal.
 */
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { KeyFilter } from './attribute-map.js';
import type { AgentCall } from './agent-call.js';
import { redactText, redactUrl } from './redact.js';
import { InputFormatError, OtlpDecodeError } from './errors.js';
import { decodeTraceRequestJson } from './otlp-json.js';
import { decodeTraceRequest } from './otlp-proto.js';
import { lengthPrefixed } from './length-prefixed.js';
import { isZstd, zstdDecompress, zstdDecompressStream } from './zstd.js';
import { callProblem } from './call-schema.js';
import type { RawSpan } from './span.js';
import { isAlert, isLabel } from './record-files.js';

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
  // Our own outputs given back as input: say what they are.
  const what = isAlert(obj) ? ' — it is a chainwatch alert (an alerts file, not telemetry)'
    : isLabel(obj) ? ' — it is a simulation label (labels.jsonl; the telemetry is history.jsonl and live.jsonl)' : '';
  throw new InputFormatError(`line is neither an OTLP/JSON request ("resourceSpans") nor an AgentCall (traceId, spanId, time, agent, action)${what}`, file, line);
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

type Compression = 'gzip' | 'zstd' | undefined;

/** The input `-`: standard input. */
export const STDIN = '-';

/** How an input is named in messages. */
export function inputName(file: string): string {
  return file === STDIN ? 'stdin' : file;
}

/** What an input's first bytes say it is compressed with. */
function compressionIn(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (isZstd(head)) return 'zstd';
  return undefined;
}

/**
 * Refuse inputs that cannot be read before anything is read or written (a learn that stopped at
 * its third file would have learned two): each must be a readable file, or `-` once, piped in (a
 * terminal would wait for typed telemetry).
 */
export function checkInputs(files: string[], stdin: { isTTY?: boolean } = process.stdin): void {
  if (files.filter((f) => f === STDIN).length > 1) throw new InputFormatError('standard input (-) given more than once: it can be read only once');
  for (const file of files) {
    if (file === STDIN) {
      if (stdin.isTTY) throw new InputFormatError('standard input (-) is a terminal: pipe telemetry into it, e.g. zcat spans.jsonl.gz | chainwatch replay - …');
      continue;
    }
    let isDirectory: boolean;
    try {
      isDirectory = statSync(file).isDirectory();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new InputFormatError(e.code === 'ENOENT' ? 'no such file' : `cannot read: ${e.message}`, file);
    }
    if (isDirectory) throw new InputFormatError(`is a directory: give the files in it, e.g. ${join(file, '*.jsonl')}`, file);
  }
}

/**
 * The stream's first four bytes (fewer if it is shorter), put back for whoever reads it next: a
 * pipe cannot be opened again to look.
 */
function readHead(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (head: Buffer): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', reject);
      if (head.length > 0) stream.unshift(head);
      resolve(head);
    };
    const onReadable = (): void => {
      const head = stream.read(4) as Buffer | null;
      if (head !== null) done(head);
    };
    const onEnd = (): void => done(Buffer.alloc(0));
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', reject);
  });
}

/**
 * One length-prefixed message: OTLP protobuf (ExportTraceServiceRequest or TracesData, the same
 * on the wire) or OTLP/JSON, each possibly zstd-compressed on its own (the file exporter's
 * `compression: zstd` before its native compression).
 */
async function messageRecord(message: Buffer, filter: KeyFilter, name: string, index: number): Promise<InputRecord | undefined> {
  let bytes = message;
  if (isZstd(bytes)) {
    try {
      bytes = await zstdDecompress(bytes);
    } catch (err) {
      throw new InputFormatError(`message ${index}: its zstd compression does not decompress (${(err as Error).message})`, name);
    }
  }
  if (bytes[0] === 0x7b) return parseLine(bytes.toString('utf8'), filter, name, index);
  try {
    const batch = decodeTraceRequest(bytes, filter);
    return { kind: 'spans', spans: batch.spans, rejected: batch.rejected };
  } catch (err) {
    if (err instanceof OtlpDecodeError) throw new InputFormatError(`message ${index} is not OTLP protobuf: ${err.message}`, name);
    throw err;
  }
}

/**
 * Stream records from the inputs in order; errors go to `onError` and reading goes on. `onBytes`
 * is told the bytes read from each input as they are read (compressed ones included, so progress
 * against totalBytes holds). An input is JSON lines, or the Collector file exporter's
 * length-prefixed messages (`format: proto`, or JSON with `compression: zstd`), either of them
 * gzip- or zstd-compressed as a whole. A compressed input that breaks off, or messages cut short,
 * keep what came before the break.
 */
export async function* readInputs(files: string[], filter: KeyFilter, onError: (e: LineError) => void, onBytes?: (n: number) => void, stdin: Readable = process.stdin): AsyncGenerator<InputRecord> {
  for (const file of files) {
    const name = inputName(file);
    const raw: Readable = file === STDIN ? stdin : createReadStream(file);
    const rawHead = await readHead(raw);
    if (rawHead.length === 0) continue; // empty: nothing in it to read (and its end is past: reading on would wait for ever)
    const compression = compressionIn(rawHead);
    // Made before anything reads the input: a listener on its data starts it flowing, and bytes
    // that flowed while the decompressor loaded would be lost to it.
    const decompress = compression === undefined ? undefined : compression === 'gzip' ? createGunzip() : await zstdDecompressStream();
    /** The decompressor's own error, not the input's read error passed on to it: damage, or a stream cut short. */
    let broken: Error | undefined;
    let readError: Error | undefined;
    if (onBytes) raw.on('data', (chunk: Buffer) => onBytes(chunk.length));
    let content: Readable = raw;
    if (decompress !== undefined) {
      raw.once('error', (err: Error) => decompress.destroy((readError = err)));
      decompress.once('error', (err) => {
        if (err !== readError) broken = err;
      });
      content = raw.pipe(decompress);
    }
    const pos: Position = { at: 0 };
    let framing: 'lines' | 'messages' = 'lines';
    try {
      const head = decompress === undefined ? rawHead : await readHead(content);
      if (head.length === 0) continue; // compressed nothing
      // A first byte under a tab is a message length's high byte (a message under 150 MB), never the start of a line of JSON.
      if (head[0] < 0x09) framing = 'messages';
      yield* (framing === 'lines' ? lineRecords : messageRecords)(content, filter, name, onError, pos);
    } catch (err) {
      if (err instanceof InputFormatError) onError({ file: name, line: pos.at + 1, message: err.message }); // the messages' framing broken off
      else if (broken !== undefined && err === broken) {
        onError({ file: name, line: pos.at + 1, message: `${name}:${pos.at + 1}: ${compression} stream broken off (${broken.message}): the ${framing} before it were read` });
      } else throw err;
    }
  }
}

/** How far reading an input has got, by line or message: where the error that ends it is. */
interface Position {
  at: number;
}

async function* lineRecords(content: Readable, filter: KeyFilter, name: string, onError: (e: LineError) => void, pos: Position): AsyncGenerator<InputRecord> {
  for await (const text of createInterface({ input: content.setEncoding('utf8'), crlfDelay: Infinity })) {
    const line = ++pos.at;
    try {
      const rec = parseLine(text, filter, name, line);
      if (rec) yield rec;
    } catch (err) {
      if (err instanceof InputFormatError) onError({ file: name, line, message: err.message });
      else throw err;
    }
  }
}

/** The file exporter's length-prefixed messages, numbered as lines are. */
async function* messageRecords(content: Readable, filter: KeyFilter, name: string, onError: (e: LineError) => void, pos: Position): AsyncGenerator<InputRecord> {
  for await (const { index, bytes } of lengthPrefixed(content, name)) {
    pos.at = index;
    try {
      const rec = await messageRecord(bytes, filter, name, index);
      if (rec) yield rec;
    } catch (err) {
      if (err instanceof InputFormatError) onError({ file: name, line: index, message: err.message });
      else throw err;
    }
  }
}

/** The inputs' size on disk, standard input not counted (its size is not known ahead). */
export function totalBytes(files: string[]): number {
  return files.reduce((n, f) => n + (f === STDIN ? 0 : statSync(f).size), 0);
}
