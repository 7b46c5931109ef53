import { describe, expect, it } from 'vitest';
import { combine, severityOf } from '../src/severity.js';
import { alertScore, rankFindings } from '../src/alerts.js';
import type { Finding } from '../detectors/types.js';

// The calibration documented in src/severity.ts, case by case.
describe('severity calibration', () => {
  it.each([
    ['API drift alone', [0.35], 'low'],
    ['new external destination, stable agent', [0.7], 'high'],
    ['new internal destination, stable agent', [0.6], 'medium'],
    ['credential of another agent', [0.8], 'high'],
    ['sensitive read then new external write (+ new destination)', [0.9, 0.7], 'critical'],
    ['novelty from an agent whose work is novel (damped)', [0.07], 'info'],
    ['two weak independent signals add up', [0.3, 0.3], 'medium'],
  ] as const)('%s → %s', (_name, scores, severity) => {
    expect(severityOf(combine([...scores]))).toBe(severity);
  });

  it('combines by noisy-OR: monotone, bounded, order-free', () => {
    expect(combine([])).toBe(0);
    expect(combine([0.5, 0.5])).toBeCloseTo(0.75);
    expect(combine([0.2, 0.9])).toBe(combine([0.9, 0.2]));
    expect(combine([0.99, 0.99, 0.99])).toBeLessThan(1);
    expect(combine([2, -1])).toBe(1);
  });
});

describe('an alert\'s score and severity', () => {
  const finding = (detector: string, score: number): Finding => ({ detector, score, signature: detector, title: detector, reason: '', expected: '', observed: '', spanIds: [] });
  it('are one: the severity is that of the score the alert shows, at a band\'s edge too', () => {
    // 1 − 0.5 × 0.6008 = 0.6996: shown as 0.7, so high (the engine decides with this same score).
    const findings = [finding('a', 0.5), finding('b', 0.3992)];
    expect(alertScore(findings)).toBe(0.7);
    expect(rankFindings(findings)).toMatchObject({ score: 0.7, severity: 'high', signature: 'a|b' });
    expect(severityOf(alertScore([finding('c', 0.6994)]))).toBe('medium');
  });
});
