/** Replay and history files as users have them: plain or gzip-compressed JSON lines; what cannot be read is refused up front. */
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

const filter = KeyFilter.forMapping(defaultMapping);
const dir = mkdtempSync(join(tmpdir(), 'chainwatch-inputs-'));
const T = Date.UTC(2026, 5, 1, 10);
const text = Array.from({ length: 200 }, (_, i) => JSON.stringify(agentTrace({
  t0: T + i * 1000, agentId: `agent-${i % 7}`, tools: [{ tool: 'search', method: 'GET', url: `https://kb.corp.internal/search?q=${i}` }],
}).doc)).join('\n') + '\nnot json\n';
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

  it('ends the reading with an error naming standard input when it is zstd-compressed (no file to look at ahead)', async () => {
    await expect(read([STDIN, 'plain.jsonl'], pipe(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3])))).rejects.toThrow(/^stdin: is compressed with zstd .*: decompress it first, e\.g\. zstd -d -c FILE \| chainwatch/);
  });

  it('refuses standard input given twice, or a terminal for standard input, before reading anything', () => {
    expect(() => checkInputs([STDIN, join(dir, 'plain.jsonl'), STDIN], { isTTY: false })).toThrow('standard input (-) given more than once: it can be read only once');
    expect(() => checkInputs([STDIN], { isTTY: true })).toThrow(/standard input \(-\) is a terminal: pipe telemetry into it, e\.g\. zcat spans\.jsonl\.gz \| chainwatch replay -/);
    expect(() => checkInputs([STDIN, join(dir, 'plain.jsonl')], { isTTY: false })).not.toThrow();
    expect(totalBytes([STDIN, join(dir, 'plain.jsonl')])).toBe(statSync(join(dir, 'plain.jsonl')).size);
  });

  it('refuses, before reading anything, a missing file, a directory and a zstd file, naming the file and what to do', () => {
    mkdirSync(join(dir, 'exports'), { recursive: true });
    writeFileSync(join(dir, 'spans.jsonl.zst'), Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
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
    expect(refusal('spans.jsonl.zst').message).toMatch(/spans\.jsonl\.zst: is compressed with zstd .*: decompress it first, e\.g\. zstd -d .*spans\.jsonl\.zst/);
    expect(refusal('exports')).toBeInstanceOf(InputFormatError);
    expect(() => checkInputs([join(dir, 'plain.jsonl'), join(dir, 'archived.jsonl')])).not.toThrow();
  });
});
