/**
 * OCSF 1.8.0 Detection Finding (class 2004) for an alert (FORMATS.md 4.1): times in epoch ms,
 * type_uid = 2004·100 + activity (1 Create for a new alert, 2 Update for a rollup), the agent as
 * the actor's app and in `unmapped` (the `ai_agent` object exists only in 1.9.0-dev), the
 * delegating principal and credential in `actor.user`, one evidence per detector or policy
 * verdict with what was expected and observed, and the trace as observables.
 */
import type { Alert } from './alerts.js';
import { type FormatOptions, traceLink } from './format-common.js';
import type { Severity } from './severity.js';

export const OCSF_VERSION = '1.8.0';
const SEVERITY_ID: Record<Severity, number> = { info: 1, low: 2, medium: 3, high: 4, critical: 5 };

export function toOcsf(a: Alert, o: FormatOptions): Record<string, unknown> {
  const activity = a.update ? 2 : 1;
  const time = Date.parse(a.time);
  const link = traceLink(a, o.linkTemplate);
  const user: Record<string, unknown> = {};
  if (a.principal !== undefined) user.uid = a.principal;
  if (a.credential !== undefined) user.credential_uid = a.credential;
  const actor: Record<string, unknown> = { app_name: a.agent.name ?? a.agent.id };
  if (Object.keys(user).length) actor.user = user;
  const evidences = a.evidence.map((e) => {
    const ev: Record<string, unknown> = { actor, data: { detector: e.detector, reason: e.reason, expected: e.expected, observed: e.observed, span_ids: e.spanIds } };
    if (a.call) {
      ev.api = { operation: a.call.action, ...(a.call.host ? { service: { name: a.call.host } } : {}) };
      if (a.call.host) ev.dst_endpoint = { hostname: a.call.host };
      if (a.call.url) ev.url = { url_string: a.call.url };
    }
    return ev;
  });
  const finding: Record<string, unknown> = {
    uid: a.id, title: a.title, desc: a.summary, types: a.detectors, created_time: time,
    first_seen_time: Date.parse(a.firstSeen), last_seen_time: Date.parse(a.lastSeen),
    analytic: { type_id: a.detectors.includes('policy') && a.detectors.length === 1 ? 1 : 2, name: a.detectors.join('+'), uid: a.signature.slice(0, 200) },
  };
  if (link !== undefined) finding.src_url = link;
  return {
    class_uid: 2004, class_name: 'Detection Finding', category_uid: 2, category_name: 'Findings',
    activity_id: activity, type_uid: 2004 * 100 + activity, time, severity_id: SEVERITY_ID[a.severity], severity: a.severity,
    status_id: 1, confidence_id: a.score >= 0.85 ? 3 : a.score >= 0.5 ? 2 : 1, confidence_score: Math.round(a.score * 100), is_alert: true,
    count: a.count, message: a.summary,
    metadata: { version: OCSF_VERSION, uid: a.id, correlation_uid: a.traceId, log_name: 'chainwatch', product: { name: o.product, vendor_name: o.vendor, version: o.version } },
    finding_info: finding,
    evidences,
    observables: [
      { name: 'trace_id', type_id: 10, value: a.traceId },
      ...a.spanIds.map((s) => ({ name: 'span_id', type_id: 10, value: s })),
      ...(a.call?.host ? [{ name: 'destination', type_id: 1, value: a.call.host }] : []),
      ...(a.call?.url ? [{ name: 'url', type_id: 6, value: a.call.url }] : []),
    ],
    unmapped: { 'gen_ai.agent.id': a.agent.id, 'chainwatch.agent.group': a.agent.group, 'chainwatch.kill_switch': a.killSwitch === true, ...(a.conversationId ? { 'gen_ai.conversation.id': a.conversationId } : {}) },
  };
}
