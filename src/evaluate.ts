/**
 * Accuracy of alerts against simulator labels, per trace (chain). A chain counts as detected
 * when any alert (or rollup update) names its trace id. Per attack class: recall = detected /
 * chains of the class; precision = detected / (detected + false positives), the precision of a
 * detector judged on that class against all benign chains; F1 from the two. False positives per
 * 1,000 benign chains counts benign and benign-novelty chains that were alerted.
 */
import type { Alert } from './alerts.js';
import type { Label, LabelRecord } from './simulate.js';
import type { Severity } from './severity.js';
import { severityRank } from './severity.js';

export interface ClassScore {
  label: Label;
  chains: number;
  detected: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface Evaluation {
  classes: ClassScore[];
  overall: { precision: number; recall: number; f1: number; attacks: number; detected: number };
  benign: { chains: number; alerted: number; perThousand: number; novelty: { chains: number; alerted: number } };
  alerts: number;
}

export function evaluate(labels: LabelRecord[], alerts: Alert[], minSeverity: Severity = 'low'): Evaluation {
  const alerted = new Set<string>();
  let count = 0;
  for (const a of alerts) {
    if (severityRank(a.severity) < severityRank(minSeverity)) continue;
    if (a.update !== true) count++;
    for (const t of a.traceIds ?? [a.traceId]) alerted.add(t);
  }
  const benign = labels.filter((l) => l.label === 'benign' || l.label === 'benign-novelty');
  const fp = benign.filter((l) => alerted.has(l.traceId)).length;
  const novelty = labels.filter((l) => l.label === 'benign-novelty');
  const classes: ClassScore[] = [];
  const attackLabels = [...new Set(labels.map((l) => l.label))].filter((l) => !l.startsWith('benign')).sort();
  let attacks = 0;
  let detectedAll = 0;
  for (const label of attackLabels) {
    const of = labels.filter((l) => l.label === label);
    const detected = of.filter((l) => alerted.has(l.traceId)).length;
    attacks += of.length;
    detectedAll += detected;
    const precision = detected + fp === 0 ? 0 : detected / (detected + fp);
    const recall = of.length === 0 ? 0 : detected / of.length;
    classes.push({ label, chains: of.length, detected, precision, recall, f1: f1(precision, recall) });
  }
  const precision = detectedAll + fp === 0 ? 0 : detectedAll / (detectedAll + fp);
  const recall = attacks === 0 ? 0 : detectedAll / attacks;
  return {
    classes,
    overall: { precision, recall, f1: f1(precision, recall), attacks, detected: detectedAll },
    benign: {
      chains: benign.length, alerted: fp, perThousand: benign.length ? (1000 * fp) / benign.length : 0,
      novelty: { chains: novelty.length, alerted: novelty.filter((l) => alerted.has(l.traceId)).length },
    },
    alerts: count,
  };
}

function f1(p: number, r: number): number {
  return p + r === 0 ? 0 : (2 * p * r) / (p + r);
}

export function formatEvaluation(e: Evaluation): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const rows = e.classes.map((c) => `| ${c.label} | ${c.chains} | ${c.detected} | ${pct(c.precision)} | ${pct(c.recall)} | ${c.f1.toFixed(3)} |`);
  return [
    '| class | chains | detected | precision | recall | F1 |',
    '|---|---|---|---|---|---|',
    ...rows,
    `| **all attacks** | ${e.overall.attacks} | ${e.overall.detected} | ${pct(e.overall.precision)} | ${pct(e.overall.recall)} | ${e.overall.f1.toFixed(3)} |`,
    '',
    `False positives: ${e.benign.alerted} of ${e.benign.chains} benign chains = ${e.benign.perThousand.toFixed(2)} per 1,000 ` +
      `(benign novelty: ${e.benign.novelty.alerted} of ${e.benign.novelty.chains} chains alerted). Alerts emitted: ${e.alerts}.`,
  ].join('\n');
}
