/**
 * Severity calibration. Each detector's score is the probability-like strength of its evidence;
 * scores on the same call or chain combine by noisy-OR (1 − Π(1 − sᵢ)): independent weak signals
 * add up, one strong signal dominates, and the result stays in [0, 1). Bands:
 *
 *   score < 0.30 info · < 0.50 low · < 0.70 medium · < 0.85 high · ≥ 0.85 critical
 *
 * So (tested in test/severity.test.ts): API drift alone (0.35) is low (info, 0.2, not alerted,
 * once three of the agent's peers made the same switch: detectors/new-action.test.ts); a new
 * external destination for a stable agent (0.7) is high, for an agent with some routine novelty medium; a known
 * agent's credential in another agent's hands (0.8) is high; a sensitive read then a write to a
 * new external destination (0.9, plus the new destination) is critical; novelty from an agent
 * whose work is novel is damped to info and not alerted.
 */
export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

export const SEVERITIES: Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

const BANDS: [number, Severity][] = [[0.85, 'critical'], [0.7, 'high'], [0.5, 'medium'], [0.3, 'low']];

export function combine(scores: number[]): number {
  let keep = 1;
  for (const s of scores) keep *= 1 - Math.min(Math.max(s, 0), 1);
  return 1 - keep;
}

export function severityOf(score: number): Severity {
  for (const [min, sev] of BANDS) if (score >= min) return sev;
  return 'info';
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}
