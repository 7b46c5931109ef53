/** Alerts and labels read back from JSON lines: every record checked, a bad line named with what it should be. */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputFormatError } from '../src/errors.js';
import { readAlerts, readLabels } from '../src/record-files.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-records-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, lines: string[]): string => {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
};
const alert = JSON.stringify({ schema: 'chainwatch.alert/v1', id: 'a'.repeat(32), severity: 'high' });
const label = JSON.stringify({ traceId: 'b'.repeat(32), label: 'exfiltration', agentId: 'x' });

describe('record files', () => {
  it('reads alerts and labels, skipping blank lines', () => {
    expect(readAlerts(file('alerts.jsonl', [alert, '', alert])).map((a) => a.id)).toEqual(['a'.repeat(32), 'a'.repeat(32)]);
    expect(readLabels(file('labels.jsonl', [label])).map((l) => l.label)).toEqual(['exfiltration']);
  });

  it('names the line that is not the record wanted, and says when it is the other kind', () => {
    const mixed = file('mixed.jsonl', [alert, label]);
    expect(() => readAlerts(mixed, ': swapped?')).toThrow(InputFormatError);
    expect(() => readAlerts(mixed, ': swapped?')).toThrow(/mixed\.jsonl:2: not a chainwatch alert .* — it is a simulation label: swapped\?$/);
    expect(() => readLabels(mixed)).toThrow(/mixed\.jsonl:1: not a label .* — it is an alert$/);
    expect(() => readAlerts(file('broken.jsonl', [alert, '{"schema": ']))).toThrow(/broken\.jsonl:2: not JSON \(.*\): want a chainwatch alert/);
    expect(() => readLabels(file('other.jsonl', ['[1, 2]']))).toThrow(/other\.jsonl:1: not a label \(traceId and label, as chainwatch simulate writes labels\.jsonl\)$/);
  });
});
