/** Replay and history files as users have them: plain or gzip-compressed JSON lines; what cannot be read is refused up front. */
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { KeyFilter, defaultMapping } from '../src/attribute-map.js';
import { InputFormatError } from '../src/errors.js';
import { type InputRecord, type LineError, checkInputs, readInputs, totalBytes } from '../src/input-files.js';
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

async function read(files: string[]): Promise<{ records: InputRecord[]; errors: LineError[]; bytes: number }> {
  const records: InputRecord[] = [];
  const errors: LineError[] = [];
  let bytes = 0;
  for await (const r of readInputs(files.map((f) => join(dir, f)), filter, (e) => errors.push(e), (n) => (bytes += n))) records.push(r);
  return { records, errors, bytes };
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
