/** Replay and history files as users have them: plain or gzip-compressed JSON lines; what cannot be read is refused up front. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { KeyFilter, defaultMapping } from '../src/attribute-map.js';
import { InputFormatError } from '../src/errors.js';
import { type InputRecord, type LineError, STDIN, checkInputs, readInputs, totalBytes } from '../src/input-files.js';
import { agentTrace } from './helpers/spans.js';
import { toBatches } from './helpers/batches.js';
import { zstdCompress } from '../src/zstd.js';
import { decodeTraceRequest } from '../src/otlp-proto.js';

const filter = KeyFilter.forMapping(defaultMapping);
const dir = mkdtempSync(join(tmpdir(), 'chainwatch-inputs-'));
const T = Date.UTC(2026, 5, 1, 10);
const docs = Array.from({ length: 200 }, (_, i) => agentTrace({
  t0: T + i * 1000, agentId: `agent-${i % 7}`, tools: [{ tool: 'search', method: 'GET', url: `https://kb.corp.internal/search?q=${i}` }],
}).doc);
const text = docs.map((d) => JSON.stringify(d)).join('\n') + '\nnot json\n';
writeFileSync(join(dir, 'plain.jsonl'), text);
// An archive without the .gz name: told by its first bytes, not its name.
writeFileSync(join(dir, 'archived.jsonl'), gzipSync(Buffer.from(text)));

async function read(files: string[], stdin?: Readable): Promise<{ records: InputRecord[]; errors: LineError[]; bytes: number }> {
  const records: InputRecord[] = [];
  const errors: LineError[] = [];
  let bytes = 0;
  const paths = files.map((f) => (f === STDIN ? f : join(dir, f)));
  for await (const r of readInputs(paths, filter, (e) => errors.push(e), (n) => (bytes += n), stdin)) records.push(r);
  return { records, errors, bytes };
}

/** A pipe's bytes as they come: in pieces, the first one byte long (shorter than any magic number). */
function pipe(bytes: Buffer): Readable {
  const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 5), bytes.subarray(5, 4096), bytes.subarray(4096)].filter((c) => c.length > 0);
  return Readable.from(chunks, { objectMode: false });
}

const spanIds = (records: InputRecord[]): string[] => records.flatMap((r) => (r.kind === 'spans' ? r.spans.map((s) => s.spanId) : []));

describe('input files', () => {
  it('reads a gzip-compressed file as the plain one, with progress counted in the bytes on disk', async () => {
    const plain = await read(['plain.jsonl']);
    const gz = await read(['archived.jsonl']);
    expect(plain.records).toHaveLength(200);
    expect(spanIds(gz.records)).toEqual(spanIds(plain.records));
    expect(gz.errors).toEqual([{ file: join(dir, 'archived.jsonl'), line: 201, message: expect.stringMatching(/archived\.jsonl:201: not JSON/) }]);
    expect(gz.bytes).toBe(statSync(join(dir, 'archived.jsonl')).size);
    expect(gz.bytes).toBe(totalBytes([join(dir, 'archived.jsonl')]));
    expect(plain.bytes).toBe(statSync(join(dir, 'plain.jsonl')).size);
  });

  it('keeps the lines before a compressed file breaks off, says where it broke, and reads the next file', async () => {
    const whole = gzipSync(Buffer.from(text));
    writeFileSync(join(dir, 'cut.jsonl.gz'), whole.subarray(0, whole.length >> 1));
    const { records, errors } = await read(['cut.jsonl.gz', 'plain.jsonl']);
    const plain = (await read(['plain.jsonl'])).records;
    const before = records.length - 200;
    expect(before).toBeGreaterThan(20);
    expect(before).toBeLessThan(200);
    // The cut file's lines as far as they go, then the next file whole.
    expect(spanIds(records.slice(0, before))).toEqual(spanIds(plain.slice(0, before)));
    expect(spanIds(records.slice(before))).toEqual(spanIds(plain));
    expect(errors[0]).toMatchObject({ file: join(dir, 'cut.jsonl.gz'), line: before + 1, message: expect.stringMatching(/gzip stream broken off \(unexpected end of file\): the lines before it were read/) });
    expect(errors[1].message).toMatch(/plain\.jsonl:201: not JSON/);
  });

  it('reads standard input (-), plain or gzip, as the file it came from, between the files around it', async () => {
    const plain = await read(['plain.jsonl']);
    for (const bytes of [Buffer.from(text), gzipSync(Buffer.from(text))]) {
      const piped = await read(['plain.jsonl', STDIN, 'plain.jsonl'], pipe(bytes));
      expect(spanIds(piped.records)).toEqual([...spanIds(plain.records), ...spanIds(plain.records), ...spanIds(plain.records)]);
      expect(piped.errors.map((e) => e.message)).toEqual([
        expect.stringMatching(/plain\.jsonl:201: not JSON/), 'stdin:201: not JSON: Unexpected token \'o\', "not json" is not valid JSON', expect.stringMatching(/plain\.jsonl:201: not JSON/),
      ]);
      expect(piped.errors[1]).toMatchObject({ file: 'stdin', line: 201 });
      expect(piped.bytes).toBe(2 * statSync(join(dir, 'plain.jsonl')).size + bytes.length);
    }
  });

  it('reads past an empty input to the next one', async () => {
    writeFileSync(join(dir, 'empty.jsonl'), '');
    const { records } = await read(['empty.jsonl', STDIN, 'plain.jsonl'], pipe(Buffer.alloc(0)));
    expect(records).toHaveLength(200);
  });

  describe('the Collector file exporter\'s other formats', () => {
    /** Each message preceded by its length, 4 bytes big-endian (the exporter's exportMessageAsBuffer). */
    const framed = (messages: Buffer[]): Buffer => Buffer.concat(messages.flatMap((m) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(m.length);
      return [len, m];
    }));
    const protos = (): Buffer[] => toBatches(docs, 20).bufs.map((b) => Buffer.from(b));
    const jsons = (): Buffer[] => docs.map((d) => Buffer.from(JSON.stringify(d)));
    const each = async (messages: Buffer[]): Promise<Buffer[]> => Promise.all(messages.map((m) => zstdCompress(m)));
    /** A zstd stream of several frames, as the exporter's native compression writes one per write when it rotates. */
    const zstdFrames = async (bytes: Buffer): Promise<Buffer> => Buffer.concat(await each([bytes.subarray(0, bytes.length >> 1), bytes.subarray(bytes.length >> 1)]));

    it('reads protobuf and JSON messages, each zstd-compressed or not, and whole files compressed with zstd, as the JSON lines they carry', async () => {
      const plain = spanIds((await read(['plain.jsonl'])).records);
      const shapes: Record<string, Buffer> = {
        'format: proto': framed(protos()),
        'format: proto, compression: zstd': framed(await each(protos())),
        'format: json, compression: zstd': framed(await each(jsons())),
        'format: json, native zstd': await zstdFrames(Buffer.from(text)),
        'format: proto, native zstd': await zstdFrames(framed(protos())),
        'format: proto, gzip': gzipSync(framed(protos())),
      };
      for (const [shape, bytes] of Object.entries(shapes)) {
        writeFileSync(join(dir, 'exported'), bytes);
        const got = await read(['exported']);
        expect(spanIds(got.records), shape).toEqual(plain);
        expect(got.errors.length, shape).toBe(shape === 'format: json, native zstd' ? 1 : 0); // its "not json" line
        expect(got.bytes, shape).toBe(bytes.length);
        // Piped in alike.
        expect(spanIds((await read([STDIN], pipe(bytes))).records), shape).toEqual(plain);
      }
    });

    it('keeps the messages before a file breaks off or a message is damaged, and says which', async () => {
      const messages = protos();
      const whole = framed(messages);
      writeFileSync(join(dir, 'cut.pb'), whole.subarray(0, whole.length - 10));
      const cut = await read(['cut.pb', 'plain.jsonl']);
      const plain = spanIds((await read(['plain.jsonl'])).records);
      const last = messages[messages.length - 1];
      const inLast = decodeTraceRequest(last, filter).spans.length;
      expect(inLast).toBeGreaterThan(0);
      expect(spanIds(cut.records)).toEqual([...plain.slice(0, plain.length - inLast), ...plain]);
      const at = whole.length - last.length - 4;
      expect(cut.errors[0]).toMatchObject({
        line: messages.length,
        message: `${join(dir, 'cut.pb')}: cut short in message ${messages.length} at byte ${at} (its length says ${last.length} bytes, ${last.length - 10} follow): the ${messages.length - 1} messages before it were read`,
      });

      const damaged = protos();
      damaged[2] = Buffer.from([0x0a, 0x7f, 0x01]); // resource_spans claiming 127 bytes of 1
      writeFileSync(join(dir, 'damaged.pb'), framed(damaged));
      const got = await read(['damaged.pb']);
      expect(got.errors).toEqual([{ file: join(dir, 'damaged.pb'), line: 3, message: expect.stringMatching(/damaged\.pb: message 3 is not OTLP protobuf: length 127 runs past the end of its message/) }]);
      expect(got.records).toHaveLength(messages.length - 1);
    });

    it('tells a file that is neither JSON lines nor messages by its impossible first length', async () => {
      writeFileSync(join(dir, 'binary'), Buffer.from([0x08, 0xff, 0xff, 0xff, 0, 0]));
      const { errors, records } = await read(['binary', 'plain.jsonl']);
      expect(records).toHaveLength(200);
      expect(errors[0].message).toBe(`${join(dir, 'binary')}: message 1 at byte 0 claims 150994943 bytes, more than the 67108864 a message may have: not a file of length-prefixed messages (the Collector file exporter's format: proto, or its compressed JSON)`);
    });

    it('keeps the lines before a zstd file is damaged, and reads the next file', async () => {
      // Large enough that its damage lies some reads in (what the stream had decoded when it broke is lost with it).
      // Queries of random bytes, so that it compresses as little as real telemetry of many agents does.
      const many = Array.from({ length: 3000 }, (_, i) => JSON.stringify(agentTrace({
        t0: T + i * 1000, agentId: `agent-${i % 7}`, tools: [{ tool: 'search', method: 'GET', url: `https://kb.corp.internal/search?q=${randomBytes(150).toString('base64url')}` }],
      }).doc)).join('\n');
      const bytes = await zstdFrames(Buffer.from(many));
      const second = bytes.indexOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), 4);
      expect(second).toBeGreaterThan(3 * 65536);
      bytes.fill(0xee, second + 12, second + 40); // the second frame's first block
      writeFileSync(join(dir, 'damaged.jsonl.zst'), bytes);
      const got = await read(['damaged.jsonl.zst', 'plain.jsonl']);
      expect(got.records.length).toBeGreaterThan(200 + 1000);
      expect(got.records.length).toBeLessThan(200 + 1500);
      expect(got.errors.map((e) => e.message)).toContainEqual(expect.stringMatching(/damaged\.jsonl\.zst:\d+: zstd stream broken off \(.*\): the lines before it were read/));
    });
  });

  it('refuses standard input given twice, or a terminal for standard input, before reading anything', () => {
    expect(() => checkInputs([STDIN, join(dir, 'plain.jsonl'), STDIN], { isTTY: false })).toThrow('standard input (-) given more than once: it can be read only once');
    expect(() => checkInputs([STDIN], { isTTY: true })).toThrow(/standard input \(-\) is a terminal: pipe telemetry into it, e\.g\. zcat spans\.jsonl\.gz \| chainwatch replay -/);
    expect(() => checkInputs([STDIN, join(dir, 'plain.jsonl')], { isTTY: false })).not.toThrow();
    expect(totalBytes([STDIN, join(dir, 'plain.jsonl')])).toBe(statSync(join(dir, 'plain.jsonl')).size);
  });

  it('refuses, before reading anything, a missing file and a directory, naming the file and what to do', () => {
    mkdirSync(join(dir, 'exports'), { recursive: true });
    const refusal = (file: string): InputFormatError => {
      try {
        checkInputs([join(dir, 'plain.jsonl'), join(dir, file)]);
      } catch (err) {
        return err as InputFormatError;
      }
      throw new Error(`${file} was not refused`);
    };
    expect(refusal('none.jsonl').message).toBe(`${join(dir, 'none.jsonl')}: no such file`);
    expect(refusal('exports').message).toBe(`${join(dir, 'exports')}: is a directory: give the files in it, e.g. ${join(dir, 'exports', '*.jsonl')}`);
    expect(refusal('exports')).toBeInstanceOf(InputFormatError);
    expect(() => checkInputs([join(dir, 'plain.jsonl'), join(dir, 'archived.jsonl')])).not.toThrow();
  });
});
