/**
 * The alerts file: JSON lines appended, and rotated by renaming it (each flush opens it by name);
 * a file that cannot be written keeps its alerts for the next flush instead of throwing (into a
 * request or a timer), says so once, and drops — counted — only past its bound.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../src/alerts.js';
import { AlertWriter } from '../src/alert-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-alerts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alert = (id: string): Alert => ({ id, severity: 'low' } as unknown as Alert);
const ids = (file: string): string[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as Alert).id);

describe('alerts file', () => {
  it('starts a new file after it was renamed away (logrotate without copytruncate)', () => {
    const file = join(dir, 'alerts.jsonl');
    const w = new AlertWriter(file);
    w.write(alert('a1'));
    w.write(alert('a2'));
    w.flush();
    renameSync(file, `${file}.1`);
    w.write(alert('a3'));
    w.flush();
    expect(ids(`${file}.1`)).toEqual(['a1', 'a2']);
    expect(ids(file)).toEqual(['a3']);
  });

  it('keeps the alerts it cannot write, says so once, and writes them all when it can', () => {
    const sub = join(dir, 'a');
    const file = join(sub, 'alerts.jsonl');
    const w = new AlertWriter(file);
    const told: (string | undefined)[] = [];
    w.onFileError = (err) => told.push(err?.message);
    // Its directory replaced by a file: every append fails, as on a full disk.
    rmSync(sub, { recursive: true });
    writeFileSync(sub, 'in the way');
    w.write(alert('1'));
    expect(() => w.flush()).not.toThrow();
    w.write(alert('2'));
    w.flush();
    expect(w.pending).toBe(2);
    expect(told).toHaveLength(1);
    expect(told[0]).toMatch(/ENOTDIR|EEXIST|not a directory/i);
    expect(w.counters).toMatchObject({ written: 0, dropped: 0, lastError: expect.stringMatching(/ENOTDIR/) });
    rmSync(sub);
    mkdirSync(sub);
    w.write(alert('3'));
    w.flush();
    expect(ids(file)).toEqual(['1', '2', '3']);
    expect(told).toEqual([told[0], undefined]);
    expect(w).toMatchObject({ pending: 0, counters: { written: 3, dropped: 0 } });
  });

  it('drops the oldest past its bound, counting them, and writes the newest', () => {
    const sub = join(dir, 'b');
    const file = join(sub, 'alerts.jsonl');
    const w = new AlertWriter(file, undefined, true, 3);
    rmSync(sub, { recursive: true });
    writeFileSync(sub, 'in the way');
    for (const id of ['1', '2', '3', '4', '5']) {
      w.write(alert(id));
      w.flush();
    }
    expect(w).toMatchObject({ pending: 3, counters: { dropped: 2 } });
    rmSync(sub);
    mkdirSync(sub);
    w.flush();
    expect(ids(file)).toEqual(['3', '4', '5']);
  });
});
