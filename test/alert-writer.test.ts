/** The alerts file: JSON lines appended, and rotated by renaming it (each flush opens it by name). */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
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
});
