/**
 * Calls of a synthetic agent's day for the benches that measure baselines: a typical agent
 * (8 hosts, 5 tools, 3 principals) or, `saturate`d, one whose every table fills to its cap.
 */
import type { AgentCall } from '../../src/agent-call.js';

/** The agent's `k`-th call, at `t`. */
export function fleetCall(agent: number, k: number, t: number, traceId: string, spanId: string, saturate = false): AgentCall {
  const host = saturate ? `host${(agent + k * 7) % 80}.internal` : `host${k % 8}.internal`;
  return {
    time: t, endTime: t + 10, traceId, spanId, agent: { id: `agent-${agent}`, name: 'agent', source: 'span' },
    action: { kind: 'http', method: 'GET', signature: `GET ${host}/api/{id}`, write: false, tool: `tool${saturate ? (agent + k) % 60 : k % 5}` },
    host, external: false, destinations: [], resource: `r${k}`, outcome: { ok: true }, retries: 0, sensitive: false,
    principal: `user${saturate ? k % 30 : k % 3}`, credential: `key-${agent}`,
  };
}
