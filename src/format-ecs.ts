/**
 * An Elastic ECS alert document (FORMATS.md 4.2): `event.kind: alert` (not `signal`, which Kibana
 * reserves), the detection as `rule.*`, the trace as `trace.id`/`span.id`, the agent as
 * `gen_ai.agent.*` and `user.*`, the delegating human as `user.effective.*`.
 */
import type { Alert } from './alerts.js';
import { type FormatOptions, SEVERITY_10, traceLink } from './format-common.js';

export const ECS_VERSION = '9.4.0';

export function toEcs(a: Alert, o: FormatOptions): Record<string, unknown> {
  const link = traceLink(a, o.linkTemplate);
  const doc: Record<string, unknown> = {
    '@timestamp': a.time, ecs: { version: ECS_VERSION }, message: a.summary, tags: ['chainwatch', a.severity, ...(a.killSwitch ? ['kill-switch'] : [])],
    event: {
      kind: 'alert', category: ['api', 'iam'], type: ['info'], action: a.detectors.join('+'), id: a.id, severity: SEVERITY_10[a.severity] * 10,
      risk_score: Math.round(a.score * 1000) / 10, risk_score_norm: Math.round(a.score * 1000) / 10, outcome: 'unknown', reason: a.evidence[0]?.reason,
      created: new Date().toISOString(), start: a.firstSeen, end: a.lastSeen, provider: o.product, dataset: 'chainwatch.alert', ...(link ? { url: link } : {}),
    },
    rule: { id: a.signature.slice(0, 200), name: a.title, ruleset: o.product, category: a.kind, description: a.evidence.map((e) => `${e.detector}: expected ${e.expected}; observed ${e.observed}`).join(' | ') },
    gen_ai: { agent: { id: a.agent.id, ...(a.agent.name ? { name: a.agent.name } : {}) }, ...(a.call?.tool ? { tool: { name: a.call.tool } } : {}) },
    user: { id: a.agent.id, ...(a.principal ? { effective: { id: a.principal } } : {}) },
    trace: { id: a.traceId }, span: { id: a.spanIds[0] ?? '' },
    labels: { alert_id: a.id, agent_group: a.agent.group, span_ids: a.spanIds.join(','), ...(a.credential ? { credential_id: a.credential } : {}), ...(a.conversationId ? { conversation_id: a.conversationId } : {}) },
    chainwatch: { evidence: a.evidence, policy: a.policy ?? [], count: a.count, trace_ids: a.traceIds },
  };
  if (a.call?.host) {
    doc.destination = { domain: a.call.host };
    doc.url = { domain: a.call.host, ...(a.call.url ? { full: a.call.url } : {}) };
    doc.http = { request: { method: a.call.action.split(' ')[0] } };
  }
  if (a.agent.service) doc.service = { name: a.agent.service };
  return doc;
}
