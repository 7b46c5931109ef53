/**
 * Reading back what chainwatch wrote as JSON lines — alerts (`serve`, `replay`) and simulation
 * labels (`simulate`) — for `eval` and `pretty`. A line that is not the record expected names the
 * file, the line and what the file should hold (and says so when the two files look swapped),
 * instead of failing deep inside with a TypeError.
 */
import { readFileSync } from 'node:fs';
import type { Alert } from './alerts.js';
import { InputFormatError } from './errors.js';
import type { LabelRecord } from './simulate.js';
import { isMapping } from './yaml-validate.js';

/** Whether a parsed line is one of our alerts, or one of `simulate`'s labels. */
export const isAlert = (v: unknown): boolean => isMapping(v) && v.schema === 'chainwatch.alert/v1';
export const isLabel = (v: unknown): boolean => isMapping(v) && typeof v.traceId === 'string' && typeof v.label === 'string';

function readRecords<T>(file: string, is: (v: unknown) => boolean, what: string, otherwise: (v: unknown) => string): T[] {
  const out: T[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new InputFormatError(`not JSON (${(err as Error).message}): want ${what}`, file, i + 1);
    }
    if (!is(v)) throw new InputFormatError(`not ${what}${otherwise(v)}`, file, i + 1);
    out.push(v as T);
  });
  return out;
}

/** Alerts as `serve` and `replay` write them (schema chainwatch.alert/v1), updates included. */
export function readAlerts(file: string, swapHint = ''): Alert[] {
  return readRecords<Alert>(file, isAlert, 'a chainwatch alert (schema chainwatch.alert/v1, as serve and replay write them)',
    (v) => (isLabel(v) ? ` — it is a simulation label${swapHint}` : ''));
}

/** The labels `simulate` writes (labels.jsonl): a chain's trace id and what it is. */
export function readLabels(file: string, swapHint = ''): LabelRecord[] {
  return readRecords<LabelRecord>(file, isLabel, 'a label (traceId and label, as chainwatch simulate writes labels.jsonl)',
    (v) => (isAlert(v) ? ` — it is an alert${swapHint}` : ''));
}
