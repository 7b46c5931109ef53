/**
 * ClickHouse RowBinary encoding for our flat rows: integers little-endian, strings and arrays
 * length-prefixed with LEB128 varints. Several times cheaper to parse on the server than
 * JSONEachRow, on every release from 18.16 on — the insert path's bottleneck (docs/benchmarks.md).
 */
export type ColumnType = 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64' | 'Float64' | 'String' | 'Array(String)';

export class RowBinaryWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  string(s: string): void {
    const n = s.length;
    this.ensure(n * 3 + 10);
    const buf = this.buf;
    // Short ASCII (ids, hosts, actions: most of our strings): copy char codes, no encoder call.
    if (n < 128) {
      let pos = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[pos++] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = pos;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varint(bytes);
    this.pos += buf.write(s, this.pos, 'utf8');
  }

  value(v: unknown, type: ColumnType): void {
    switch (type) {
      case 'String': this.string(typeof v === 'string' ? v : String(v ?? '')); return;
      case 'Array(String)': {
        const a = (v as string[] | undefined) ?? [];
        this.varint(a.length);
        for (const s of a) this.string(s);
        return;
      }
      case 'UInt8': this.ensure(1); this.buf[this.pos++] = Number(v) & 0xff; return;
      case 'UInt16': this.ensure(2); this.buf.writeUInt16LE(Number(v) & 0xffff, this.pos); this.pos += 2; return;
      case 'UInt32': this.ensure(4); this.buf.writeUInt32LE(Number(v) >>> 0, this.pos); this.pos += 4; return;
      case 'UInt64': {
        // Our UInt64s are epoch ms and byte counts: exact in a double, written as two 32-bit halves.
        const n = Math.max(0, Math.trunc(Number(v)));
        this.ensure(8);
        this.buf.writeUInt32LE(n % 4294967296, this.pos);
        this.buf.writeUInt32LE(Math.floor(n / 4294967296), this.pos + 4);
        this.pos += 8;
        return;
      }
      case 'Float64': this.ensure(8); this.buf.writeDoubleLE(Number(v), this.pos); this.pos += 8; return;
    }
  }

  /** The bytes written so far (a view, valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Encode rows column by column in the table's order. */
export function encodeRows(rows: object[], columns: readonly (readonly [string, ColumnType])[]): Buffer {
  const w = new RowBinaryWriter(Math.max(1 << 16, rows.length * 256));
  for (const row of rows) {
    const r = row as Record<string, unknown>;
    for (const [name, type] of columns) w.value(r[name], type);
  }
  return Buffer.from(w.bytes());
}
