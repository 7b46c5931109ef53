/**
 * Declared scope: every policy construct, table-driven, each with a violating case and a near
 * miss that must pass. Policies are written as YAML, loaded through the real loader.
 */
import { describe, expect, it } from 'vitest';
import type { AgentCall } from '../src/agent-call.js';
import { loadPolicyText } from '../src/policy-load.js';
import { PolicyEngine } from '../src/policy-engine.js';
import { parseCondition } from '../src/policy-condition.js';
import { mkCall, mkChain, T0, MIN, HOUR } from './helpers/detector-harness.js';

const agent = { id: 'support-agent-01', name: 'support-agent', service: 'support-svc' };

function run(policyYaml: string, calls: AgentCall[][], known: string[] = []): string[] {
  const engine = new PolicyEngine(loadPolicyText('test.yaml', `version: 1\npolicies:\n  - name: p\n    match: { name: [support-agent] }\n${policyYaml.replace(/^/gm, '    ')}`));
  const out: string[] = [];
  for (const chainCalls of calls) {
    const chain = mkChain([], `${chainCalls[0]?.traceId ?? 'x'}`);
    for (const call of chainCalls) {
      chain.calls.push(call);
      chain.callCount++;
      if (chain.callCount === 1) chain.startTime = call.time;
      chain.lastTime = call.time;
      for (const v of engine.evaluate(call, chain, agent, (d) => known.includes(`${d.kind}:${d.value}`))) out.push(`${v.rule}${v.mode === 'shadow' ? ' (shadow)' : ''}`);
    }
  }
  return out;
}

const get = (host: string, extra: Parameters<typeof mkCall>[0] = {}) => mkCall({ host, sig: `GET ${host}/x`, ...extra });
const post = (host: string, extra: Partial<AgentCall> = {}) => mkCall({ host, sig: `POST ${host}/x`, write: true, ...extra });
const del = (host: string, extra: Partial<AgentCall> = {}) => mkCall({ host, action: { kind: 'http', method: 'DELETE', signature: `DELETE ${host}/x`, write: true }, ...extra });
const tool = (name: string, extra: Partial<AgentCall> = {}) => mkCall({ tool: name, sig: `tool ${name}`, ...extra });

describe('policy constructs', () => {
  it.each([
    ['host not in allow list', 'destinations: { allow: ["*.corp.internal"] }', [[get('evil.example', { external: true })]], ['destinations.allow']],
    ['near miss: allowed host', 'destinations: { allow: ["*.corp.internal"] }', [[get('tickets.corp.internal')]], []],
    ['denied host wins over allow', 'destinations: { allow: ["*"], deny: ["paste-*"] }', [[get('paste-drop.io', { external: true })]], ['destinations.deny']],
    ['external denied', 'destinations: { allow: ["*"], external: deny }', [[get('api.stripe.com', { external: true })]], ['destinations.external']],
    ['external allowed by mode', 'destinations: { allow: ["*.corp.internal"], external: allow }', [[get('anything.org', { external: true })]], []],
    ['email domain outside allow list', 'destinations: { email_domains: { allow: [acme.com] } }', [[post('mail.corp.internal', { destinations: [{ kind: 'email-domain', value: 'evil-mail.net' }] })]], ['destinations.email_domains.allow']],
    ['account denied', 'destinations: { accounts: { deny: ["GB*"] } }', [[post('bank.corp.internal', { destinations: [{ kind: 'account', value: 'GB29NWBK60161331926819' }] })]], ['destinations.accounts.deny']],
    ['channel outside allow list', 'destinations: { channels: { allow: ["#deploys"] } }', [[post('slack.com', { destinations: [{ kind: 'channel', value: '#random' }] })]], ['destinations.channels.allow']],
    ['near miss: allowed host with forbidden action', 'destinations: { allow: ["*.corp.internal"] }\nactions: { deny: ["DELETE *"] }', [[mkCall({ host: 'tickets.corp.internal', sig: 'DELETE tickets.corp.internal/api/tickets/{id}', write: true })]], ['actions.deny']],
    ['action not in allow list', 'actions: { allow: ["GET *"] }', [[post('tickets.corp.internal')]], ['actions.allow']],
    ['tool not allowed', 'actions: { tools: { allow: [get_ticket] } }', [[tool('grant_role')]], ['actions.tools.allow']],
    ['tool denied', 'actions: { tools: { deny: ["delete_*"] } }', [[tool('delete_repo')]], ['actions.tools.deny']],
    ['chain call limit, once per chain', 'limits: { chain_calls: 3 }', [Array.from({ length: 6 }, (_, i) => get('a.corp.internal', { time: T0 + i }))], ['limits.chain_calls']],
    ['distinct destinations limit', 'limits: { chain_destinations: 2 }', [['a', 'b', 'c'].map((h) => get(`${h}.corp.internal`))], ['limits.chain_destinations']],
    ['distinct resources limit', 'limits: { chain_resources: 2 }', [[1, 2, 3].map((n) => get('a.corp.internal', { resource: `r/${n}` }))], ['limits.chain_resources']],
    ['chain duration limit', 'limits: { chain_duration: 10m }', [[get('a.corp.internal', { time: T0 }), get('a.corp.internal', { time: T0 + 11 * MIN })]], ['limits.chain_duration']],
    ['bytes to external destinations', 'limits: { external_bytes: 1KB }', [[post('up.example', { external: true, bytesOut: 800 }), post('up.example', { external: true, bytesOut: 800 })]], ['limits.external_bytes']],
    ['near miss: bytes to internal destinations do not count', 'limits: { external_bytes: 1KB }', [[post('a.corp.internal', { bytesOut: 5000 })]], []],
    ['calls per minute', 'limits: { calls_per_minute: 3 }', [Array.from({ length: 5 }, (_, i) => get('a.corp.internal', { time: T0 + i * 1000 }))], ['limits.calls_per_minute']],
    ['delegation max age', 'delegation: { max_age: 30m }', [[get('a.corp.internal', { time: T0 }), get('a.corp.internal', { time: T0 + 31 * MIN })]], ['delegation.max_age']],
    ['credential max age (issued_at in seconds)', 'delegation: { credential_max_age: 1h }', [[get('a.corp.internal', { time: T0, credential: 'k1', credentialIssuedAt: (T0 - 2 * HOUR) / 1000 })]], ['delegation.credential_max_age']],
    ['approval missing on a high-risk call', 'approval: { actions: ["tool:issue_refund"] }', [[tool('issue_refund')]], ['approval']],
    ['approval present on the call', 'approval: { actions: ["tool:issue_refund"] }', [[tool('issue_refund', { approvalId: 'apr-7' })]], []],
    ['near miss: approval on another call of the chain does not count', 'approval: { actions: ["tool:issue_refund"] }', [[tool('lookup', { approvalId: 'apr-7' }), tool('issue_refund')]], ['approval']],
    ['sensitive read then external write', 'data_flow: { forbid: external }', [[get('crm.corp.internal', { sensitive: true }), post('paste-drop.io', { external: true })]], ['data_flow']],
    ['near miss: flow split across the boundary of a chain', 'data_flow: { forbid: external }', [[get('crm.corp.internal', { sensitive: true, traceId: 'a'.repeat(32) })], [post('paste-drop.io', { external: true, traceId: 'b'.repeat(32) })]], []],
    ['near miss: write before the sensitive read', 'data_flow: { forbid: external }', [[post('paste-drop.io', { external: true }), get('crm.corp.internal', { sensitive: true })]], []],
    ['new_external spares destinations the agent already uses', 'data_flow: { forbid: new_external }', [[get('crm.corp.internal', { sensitive: true }), post('api.stripe.com', { external: true })]], []],
    ['explicitly allowed external destination is in scope', 'destinations: { allow: ["*.corp.internal", api.stripe.com], external: listed }\ndata_flow: { forbid: external }', [[get('crm.corp.internal', { sensitive: true }), post('api.stripe.com', { external: true })]], []],
    ['sensitive by policy glob', 'data_flow: { sensitive: ["tool:get_secret"], forbid: external }', [[tool('get_secret'), post('x.example', { external: true })]], ['data_flow']],
    ['outside the time window', 'hours: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00" }', [[get('a.corp.internal', { time: T0 + 12 * HOUR })]], ['hours']],
    ['near miss: inside the time window', 'hours: { days: [mon], from: "08:00", to: "18:00" }', [[get('a.corp.internal', { time: T0 })]], []],
    ['near miss: the last minute of an allowed Saturday', 'hours: { days: [sat], from: "00:00", to: "24:00" }', [[get('a.corp.internal', { time: Date.UTC(2026, 5, 6, 23, 59, 59) })]], []],
    ['the first minute of the Sunday after', 'hours: { days: [sat], from: "00:00", to: "24:00" }', [[get('a.corp.internal', { time: Date.UTC(2026, 5, 7, 0, 0) })]], ['hours']],
    ['a limit crossed stays one violation for the chain', 'limits: { chain_calls: 1 }\ndelegation: { max_age: 1m }', [Array.from({ length: 4 }, (_, i) => get('a.corp.internal', { time: T0 + i * 2 * MIN }))], ['limits.chain_calls', 'delegation.max_age']],
  ] as const)('%s', (_name, yaml, chains, expected) => {
    expect(run(yaml, chains as unknown as AgentCall[][], ['host:api.stripe.com'])).toEqual(expected);
  });
});

describe('chain rules', () => {
  const rule = (condition: string, extra = '') => `rules:\n  - rule: R\n    desc: d\n    condition: ${JSON.stringify(condition)}\n    output: "%agent.id did %action"\n    priority: ERROR\n${extra}`;
  it.each([
    ['A then B', 'tool read_secret then (write and external)', [[tool('read_secret'), post('x.example', { external: true })]], ['R']],
    ['near miss: B then A', 'tool read_secret then (write and external)', [[post('x.example', { external: true }), tool('read_secret')]], []],
    ['A then B within 10m: too late', 'tool read_secret then write within 10m', [[tool('read_secret', { time: T0 }), post('x.example', { time: T0 + 11 * MIN })]], []],
    ['A then B within 10m: in time', 'tool read_secret then write within 10m', [[tool('read_secret', { time: T0 }), post('x.example', { time: T0 + 9 * MIN })]], ['R']],
    ['B without a preceding A', 'tool issue_refund without preceding tool get_invoice', [[tool('issue_refund')]], ['R']],
    ['near miss: A precedes B', 'tool issue_refund without preceding tool get_invoice', [[tool('get_invoice'), tool('issue_refund')]], []],
    ['near miss: A in another chain', 'tool issue_refund without preceding tool get_invoice', [[tool('get_invoice', { traceId: 'c'.repeat(32) })], [tool('issue_refund', { traceId: 'd'.repeat(32) })]], ['R']],
    ['single-call condition with not/or', 'host "*.ru" or (method DELETE and not host "*.corp.internal")', [[mkCall({ host: 'x.example', sig: 'DELETE x.example/a', action: { kind: 'http', method: 'DELETE', signature: 'DELETE x.example/a', write: true } })]], ['R']],
    ['new_destination uses the learned baseline', 'write and new_destination', [[post('api.stripe.com'), post('fresh.example')]], ['R']],
  ] as const)('%s', (_name, condition, chains, expected) => {
    expect(run(rule(condition), chains as unknown as AgentCall[][], ['host:api.stripe.com'])).toEqual(expected);
  });

  // Verdicts are cached per call shape; these guard what a shape must include.
  it.each([
    ['a host glob of a rule with a destination atom is part of the shape', 'host "*.blocked.example" and not destination "*.fine"',
      [[get('ok.example', { sig: 'GET /x' })], [get('x.blocked.example', { sig: 'GET /x' })]], ['R']],
    ['a dynamic rule is visited while its destination atom is undecided', 'method DELETE and destination "*-evil.example"',
      [[del('b.example')], [del('b.example', { destinations: [{ kind: 'email-domain', value: 'x-evil.example' }] })], [get('b.example')]], ['R']],
    ['classification is not taken from an earlier call of the same action', 'classification pii',
      [[get('a.corp.internal')], [get('a.corp.internal', { sensitivity: 'pii' })]], ['R']],
    ['flags are not taken from an earlier call of the same action', 'failed and host "*.corp.internal"',
      [[get('a.corp.internal')], [get('a.corp.internal', { outcome: { ok: false, status: 500 } })]], ['R']],
  ] as const)('%s', (_name, condition, chains, expected) => {
    expect(run(rule(condition), chains as unknown as AgentCall[][])).toEqual(expected);
  });

  it('tells from the shape alone when a condition with destination atoms is decided', () => {
    const partial = (condition: string, call: AgentCall) => parseCondition(condition).partialA(call);
    const call = get('a.corp.internal');
    expect(partial('host "*.corp.internal" or destination "x"', call)).toBe(1);
    expect(partial('host "*.example" and destination "x"', call)).toBe(0);
    expect(partial('host "*.corp.internal" and destination "x"', call)).toBe(2);
    expect(partial('not (host "*.example" and principal "bob")', call)).toBe(1);
    expect(partial('not new_destination', call)).toBe(2);
    expect(partial('write or read', call)).toBe(1);
  });

  it('fires once per chain, honours exceptions and shadow mode, and renders its output', () => {
    expect(run(rule('tool x'), [[tool('x'), tool('x')]])).toEqual(['R']);
    expect(run(rule('tool x', '    exceptions:\n      - { name: ours, agent: ["support-agent-*"] }'), [[tool('x')]])).toEqual([]);
    expect(run(rule('tool x', '    mode: shadow'), [[tool('x')]])).toEqual(['R (shadow)']);
    const engine = new PolicyEngine(loadPolicyText('t.yaml', `version: 1\npolicies:\n  - name: p\n    match: { agent: ["*"] }\n    kill_switch: true\n${rule('tool x').replace(/^/gm, '    ')}`));
    const [v] = engine.evaluate(tool('x'), mkChain([]), agent, () => false);
    expect(v).toMatchObject({ policy: 'p', rule: 'R', killSwitch: true, observed: 'support-agent-01 did tool x', score: 0.8 });
  });

  it('applies no policy to an agent that matches none', () => {
    const engine = new PolicyEngine(loadPolicyText('t.yaml', 'version: 1\npolicies:\n  - name: p\n    match: { service: [billing-*] }\n    actions: { deny: ["*"] }\n'));
    expect(engine.evaluate(tool('x'), mkChain([]), agent, () => false)).toEqual([]);
  });
});

describe('inheritance', () => {
  it('applies file defaults and `extends`, children overriding parents field by field', () => {
    const text = `version: 1
defaults:
  limits: { chain_calls: 5, chain_resources: 100 }
policies:
  - name: base
    match: { name: [nobody] }
    destinations: { deny: ["paste-*"] }
  - name: child
    extends: base
    match: { agent: ["support-*"] }
    limits: { chain_calls: 2 }
`;
    const engine = new PolicyEngine(loadPolicyText('t.yaml', text));
    const chain = mkChain([]);
    const seen: string[] = [];
    for (const call of [get('paste-drop.io', { external: true }), get('a.corp.internal'), get('b.corp.internal')]) {
      chain.calls.push(call);
      chain.callCount++;
      seen.push(...engine.evaluate(call, chain, agent, () => true).map((v) => v.rule));
    }
    expect(seen).toEqual(['destinations.deny', 'limits.chain_calls']);
  });
});
