/**
 * What `chainwatch status` prints from two samples of a running instance's `/status` (rates are
 * their difference over the interval; one sample, interval 0, gives none).
 */
import pc from 'picocolors';

interface Lag { total: number; at: number; error?: string }
interface KafkaStage { records: number; lag?: Lag | null; partitions?: number[]; spansRejected?: number; spansSkewed?: number; spansTooOld?: number; lastError?: string; lastErrorAt?: string }
interface ReceiverCounts { spansAccepted: number; spansRejected: number; spansSkewed?: number; spansTooOld?: number; badRequests: Record<string, number> }

/** The parts of a `/status` document shown (see Service.status). */
export interface StatusDoc {
  ready: boolean;
  uptimeSeconds: number;
  watermark?: string | null;
  receiver: ReceiverCounts;
  engine: { calls: number; chainsQuarantined: number; alerts: Record<string, number>; violations: number; shadowViolations: number };
  openChains: number;
  agents: { enforcing: number; learning: number };
  metrics?: string | null;
  kafka?: { ingest?: KafkaStage | null; detect?: KafkaStage | null } | null;
  alertsFile?: { path: string | null; written: number; pending: number; dropped: number; lastError?: string };
  sinks?: Record<string, { sent: number; queued: number; dropped: number; lastError?: string }>;
}

export function formatStatus(url: string, a: StatusDoc, b: StatusDoc, intervalSeconds: number, now: number): string {
  const rate = (x: number, y: number): string => (intervalSeconds > 0 ? ((y - x) / intervalSeconds).toFixed(1) : '—');
  const alerts = (s: StatusDoc): number => Object.values(s.engine.alerts).reduce((n, v) => n + v, 0);
  const out = [
    `chainwatch at ${url}: ${b.ready ? pc.green('ready') : pc.yellow('not ready')}, up ${b.uptimeSeconds} s, event time ${b.watermark ?? '—'}`,
    `  spans/s ${rate(a.receiver.spansAccepted, b.receiver.spansAccepted)}   calls/s ${rate(a.engine.calls, b.engine.calls)}   alerts/s ${rate(alerts(a), alerts(b))}`,
    `  open chains ${b.openChains}   agents ${b.agents.enforcing} enforcing, ${b.agents.learning} learning   quarantined chains ${b.engine.chainsQuarantined}`,
    `  alerts ${Object.entries(b.engine.alerts).map(([k, v]) => `${k} ${v}`).join(', ')}   policy violations ${b.engine.violations} (+${b.engine.shadowViolations} shadow)`,
    `  rejected: ${b.receiver.spansRejected} spans${misdatedClause(b.receiver)}, ${badRequestsText(b.receiver.badRequests)}   metrics ${b.metrics ?? 'off'}`,
  ];
  const file = b.alertsFile;
  if (file && (file.pending > 0 || file.dropped > 0)) {
    out.push(pc.yellow(`  alerts file ${file.path}: ${file.pending} alerts waiting to be written, ${file.dropped} dropped (${file.lastError ?? 'no error now'})`));
  }
  for (const [name, k] of Object.entries(b.sinks ?? {})) {
    // A queue that holds alerts while an error stands: the sink is down and retrying.
    const trouble = k.queued > 0 && k.lastError !== undefined ? pc.yellow(`, failing: ${k.lastError}`) : '';
    out.push(`  sink ${name}: sent ${k.sent}, queued ${k.queued}, dropped ${k.dropped}${trouble}`);
  }
  for (const stage of ['ingest', 'detect'] as const) {
    const k = b.kafka?.[stage];
    if (!k) continue;
    const rejected = stage === 'ingest' && k.spansRejected ? `   rejected ${k.spansRejected} spans${misdatedClause(k)}` : '';
    const partitions = stage === 'detect' ? `   partitions [${(k.partitions ?? []).join(', ')}]` : '';
    out.push(`  kafka ${stage}: ${rate(a.kafka?.[stage]?.records ?? k.records, k.records)} records/s   ${lagText(k.lag, now)}${partitions}${rejected}`);
    if (k.lastError) out.push(`    last error${k.lastErrorAt ? ` (${k.lastErrorAt})` : ''}: ${k.lastError}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * The stage's consumer lag; when the brokers did not answer the latest sample, that (the figure
 * from before is not today's lag: with the brokers away it only grows).
 */
function lagText(lag: Lag | null | undefined, now: number): string {
  if (!lag || (lag.at === 0 && lag.error === undefined)) return 'lag not measured yet';
  if (lag.error === undefined) return `lag ${lag.total} records`;
  const before = lag.at > 0 ? `; ${lag.total} records ${Math.max(0, Math.round((now - lag.at) / 1000))} s ago` : '';
  return pc.yellow(`lag unknown: cannot reach the brokers (${lag.error})${before}`);
}

/** "requests none", or "requests 3 (malformed 2, too_large 1)": bad requests by reason, most first. */
function badRequestsText(byReason: Record<string, number>): string {
  const reasons = Object.entries(byReason).filter(([, n]) => n > 0).sort((x, y) => y[1] - x[1]);
  if (reasons.length === 0) return 'requests none';
  return `requests ${reasons.reduce((n, [, k]) => n + k, 0)} (${reasons.map(([r, n]) => `${r} ${n}`).join(', ')})`;
}

/** How many spans were rejected for being dated outside the span time window, when any were. */
function misdatedClause(c: { spansSkewed?: number; spansTooOld?: number }): string {
  const parts: string[] = [];
  if (c.spansSkewed) parts.push(`${c.spansSkewed} dated ahead of this machine's clock`);
  if (c.spansTooOld) parts.push(`${c.spansTooOld} older than engine.chains.max_span_age`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}
