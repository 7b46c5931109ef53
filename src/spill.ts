/**
 * Spill: batches the event store could not take, kept on disk until it can. One file per batch
 * (`<seq>-<table>.jsonl`, written to a temp name then renamed, so a crash never leaves half a
 * batch), replayed oldest first. Bounded: past `maxBytes` new batches are dropped and counted —
 * the only place rows can be lost, and it is loud (metric, log, /status).
 */
import { readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Table } from './event-store.js';
import { ensureDir } from './ensure-dir.js';

const NAME = /^(\d{12})-(calls|chains|alerts)\.jsonl$/;

export class Spill {
  private seq = 0;
  bytes = 0;
  files = 0;

  constructor(readonly dir: string, readonly maxBytes: number) {
    ensureDir(dir);
    for (const f of readdirSync(dir)) {
      const m = NAME.exec(f);
      if (m === null) continue;
      this.seq = Math.max(this.seq, Number(m[1]));
      this.bytes += statSync(join(dir, f)).size;
      this.files++;
    }
  }

  /** False when the spill is full and the batch was not kept. */
  append(table: Table, rows: object[]): boolean {
    const text = `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
    const size = Buffer.byteLength(text);
    if (this.bytes + size > this.maxBytes) return false;
    const name = `${String(++this.seq).padStart(12, '0')}-${table}.jsonl`;
    const tmp = join(this.dir, `.${name}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(this.dir, name));
    this.bytes += size;
    this.files++;
    return true;
  }

  /** The oldest spilled batch, or undefined when the spill is empty. */
  oldest(): { file: string; table: Table; rows: object[] } | undefined {
    if (this.files === 0) return undefined;
    const name = readdirSync(this.dir).filter((f) => NAME.test(f)).sort()[0];
    if (name === undefined) return undefined;
    const file = join(this.dir, name);
    const rows = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as object);
    return { file, table: NAME.exec(name)![2] as Table, rows };
  }

  remove(file: string): void {
    const size = statSync(file).size;
    unlinkSync(file);
    this.bytes -= size;
    this.files--;
  }
}
