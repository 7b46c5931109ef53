/**
 * Moving agents between engines (what the Kafka detect stage does through its changelog): an
 * engine that processed the first part of a stream exports its agents — baselines, open chains
 * with their detectors' per-chain scratch, recently closed traces (one that resumes hours later
 * is delegation outliving its task), rollup windows, quarantined chains — as JSON; a fresh
 * engine on the learned state adopts them and processes the rest. Together they raise exactly the
 * alerts of one engine that saw the whole stream.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/alerts.js';
import type { AgentCall } from '../src/agent-call.js';
import { Engine, type AgentRecord, defaultEngineConfig } from '../src/engine.js';
import { StateError } from '../src/errors.js';
import type { CallItem } from '../src/call-wire.js';
import { parseWithSets, stringifyWithSets } from '../src/json-sets.js';
import { decodeChangelogValue, encodeChangelogValue, stampOf } from '../src/changelog-value.js';
import { simulate } from '../src/simulate.js';
import { callItems } from './helpers/calls.js';
import { learnedEngine } from './helpers/learned.js';
import { agentTrace } from './helpers/spans.js';

const config = { ...defaultEngineConfig, chains: { ...defaultEngineConfig.chains, idleTimeoutMs: Number.POSITIVE_INFINITY } };

function learned(history: object[]): string {
  return JSON.stringify(learnedEngine(history).snapshot());
}

function worker(snapshot: string, alerts: Alert[]): Engine {
  const e = new Engine(config, (a) => alerts.push(a));
  e.restore(JSON.parse(snapshot));
  e.sharedFrozen = true;
  return e;
}

/** Through the changelog's own encoding, as the detect stage moves an agent. */
function moved(r: AgentRecord): AgentRecord {
  return decodeChangelogValue(encodeChangelogValue({ offset: 7, state: r })).state;
}

function apply(e: Engine, item: CallItem): void {
  if (item.t === 'call') e.ingestCall(item.call as AgentCall);
  else e.closeChain(item.traceId);
}

describe('agent state transfer', () => {
  it('round-trips Sets and Maps, and leaves look-alike objects alone', () => {
    const v = { s: new Set(['a', 'b']), m: new Map([['k', new Set([1])]]), o: { $set: [1], other: true } };
    const back = parseWithSets<typeof v>(stringifyWithSets(v));
    expect(back.s).toEqual(new Set(['a', 'b']));
    expect(back.m.get('k')).toEqual(new Set([1]));
    expect(back.o).toEqual({ $set: [1], other: true });
  });

  it('an engine that adopts exported agents mid-stream continues exactly where the first left off', () => {
    const sim = simulate({ seed: 31, agentsPerRole: 2, historyDays: 3, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 20 });
    const snapshot = learned(sim.history);
    const items = callItems(sim.live);

    const whole: Alert[] = [];
    const one = worker(snapshot, whole);
    for (const item of items) apply(one, item);

    // Cut mid-stream: open chains and their scratch must move too (checked below).
    const cut = Math.floor(items.length / 2);
    const parts: Alert[] = [];
    const first = worker(snapshot, parts);
    for (const item of items.slice(0, cut)) apply(first, item);
    const ids = new Set(first.agents.keys());
    const records = [...first.exportAgents(ids).values()].map(moved);
    expect(records.some((r) => r.chains.length > 0)).toBe(true);
    expect(records.some((r) => r.rollups.length > 0)).toBe(true);
    expect(records.some((r) => r.closed.length > 0)).toBe(true);
    const second = worker(snapshot, parts);
    for (const r of records) second.adoptAgent(r);
    // A chain read back from JSON is rebuilt with every field in the assembler's order (one hidden class).
    const chainKeys = (e: Engine): string[][] => [...e.assembler.openChainsOf(ids).values()].flat().map((c) => Object.keys(c.chain));
    expect(chainKeys(second).length).toBeGreaterThan(0);
    expect(new Set([...chainKeys(first), ...chainKeys(second)].map((k) => k.join())).size).toBe(1);
    for (const item of items.slice(cut)) apply(second, item);

    const key = (a: Alert): string => `${a.id} ${a.severity} ${a.count}${a.update ? ' update' : ''}`;
    expect(whole.length).toBeGreaterThan(3);
    expect(parts.map(key).sort()).toEqual(whole.map(key).sort());
  });

  it('writes closed traces compactly in the changelog, and reads the previous release\'s records', () => {
    const sim = simulate({ seed: 43, agentsPerRole: 2, historyDays: 2, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 20 });
    const e = worker(learned(sim.history), []);
    for (const item of callItems(sim.live)) apply(e, item);
    const records = [...e.exportAgents(new Set(e.agents.keys())).values()];
    expect(records.every((r) => r.closed.length > 5)).toBe(true);
    let before = 0;
    let after = 0;
    for (const r of records) {
      // What the previous release wrote: the record as it is, Sets and Maps marked anywhere.
      const old = stringifyWithSets({ offset: 42, state: r });
      const now = encodeChangelogValue({ offset: 42, state: r });
      expect(stampOf(now)).toBe(42);
      const expected = parseWithSets<{ state: AgentRecord }>(old).state;
      expect(decodeChangelogValue(now).state).toEqual(expected);
      expect(decodeChangelogValue(old).state).toEqual(expected);
      before += old.length;
      after += now.length;
    }
    expect(after).toBeLessThan(0.75 * before);
  });

  it('names what is wrong with a changelog record it cannot read', () => {
    const sim = simulate({ seed: 47, agentsPerRole: 1, historyDays: 1, liveDays: 1, attacksPerClass: 0, chainsPerAgentDay: 10 });
    const e = worker(learned(sim.history), []);
    for (const item of callItems(sim.live)) apply(e, item);
    const [r] = [...e.exportAgents(new Set(e.agents.keys())).values()].filter((x) => x.closed.length > 0);
    const good = JSON.parse(encodeChangelogValue({ offset: 3, state: r })) as { state: { closed: { ids: unknown[]; t: unknown[][] } } };
    const broken = (change: (v: typeof good) => void): string => {
      const v = structuredClone(good);
      change(v);
      return JSON.stringify(v);
    };
    expect(() => decodeChangelogValue('{"offset":3,"state":')).toThrow(StateError);
    expect(() => decodeChangelogValue('{"state":{}}')).toThrow(/lacks its offset stamp or its agent/);
    expect(() => decodeChangelogValue(broken((v) => { v.state.closed = { ids: 'x', t: [] } as never; }))).toThrow(/closed traces are neither a list nor/);
    expect(() => decodeChangelogValue(broken((v) => { v.state.closed.t[0][2] = 99; }))).toThrow(new RegExp(`changelog record of agent ${r.agent.id}: closed trace .* names identity 99`));
  });

  it('takes a call it already has once: read again before or after its chain closed, or after its agent moved', () => {
    const sim = simulate({ seed: 41, agentsPerRole: 2, historyDays: 2, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 10 });
    const snapshot = learned(sim.history);
    const items = callItems(sim.live);
    const callsIn = (list: CallItem[]): number => list.filter((i) => i.t === 'call').length;
    const whole: Alert[] = [];
    const one = worker(snapshot, whole);
    for (const item of items) apply(one, item);

    // An upstream worker that crashed is replaced by one that sends a stretch again (closes too).
    const cut = Math.floor(items.length / 2);
    const from = Math.floor(items.length / 4);
    const parts: Alert[] = [];
    const first = worker(snapshot, parts);
    for (const item of items.slice(0, cut)) apply(first, item);
    for (const item of items.slice(from, cut)) apply(first, item);
    expect(first.assembler.duplicateCalls).toBe(callsIn(items.slice(from, cut)));
    // The agents move to another engine, and that stretch comes once more.
    const second = worker(snapshot, parts);
    for (const r of first.exportAgents(new Set(first.agents.keys())).values()) second.adoptAgent(moved(r));
    for (const item of items.slice(from)) apply(second, item);
    expect(second.assembler.duplicateCalls).toBe(callsIn(items.slice(from, cut)));
    expect(first.stats.calls + second.stats.calls).toBe(one.stats.calls);
    const key = (a: Alert): string => `${a.id} ${a.severity} ${a.count}${a.update ? ' update' : ''}`;
    expect(parts.map(key).sort()).toEqual(whole.map(key).sort());
  });

  it('closes a chain whose close record never came, once its agent has moved on by the backstop time', () => {
    const sim = simulate({ seed: 37, agentsPerRole: 1, historyDays: 2, liveDays: 1, attacksPerClass: 0, chainsPerAgentDay: 5 });
    const e = worker(learned(sim.history), []);
    const items = callItems(sim.live);
    const calls = items.filter((i): i is Extract<CallItem, { t: 'call' }> => i.t === 'call').map((i) => i.call as AgentCall);
    const a = calls[0];
    const other = calls.find((c) => c.agent.id !== a.agent.id)!;
    const at = (c: AgentCall, traceId: string, time: number): AgentCall => ({ ...c, traceId, time, endTime: time + 10 });
    e.ingestCall(at(a, 'a'.repeat(32), a.time));
    e.ingestCall(at(other, 'b'.repeat(32), a.time));
    e.ingestCall(at(a, 'c'.repeat(32), a.time + 20 * 60_000));
    expect(e.closeStale(30 * 60_000).size).toBe(0);
    // The first agent acts again 40 min later: its first chain (no close record) is stale; the
    // other agent's chain is not, whatever the wall clock or other agents' time says.
    e.ingestCall(at(a, 'd'.repeat(32), a.time + 40 * 60_000));
    const before = e.stats.chains;
    expect([...e.closeStale(30 * 60_000)]).toEqual([a.agent.id]);
    expect(e.stats.chains).toBe(before + 1);
    expect(e.assembler.openTraces).toBe(3);
  });

  it('by its partition\'s time, closes a quiet agent\'s stale chain and rollup window, sending the count of repeats', () => {
    const alerts: Alert[] = [];
    const e = new Engine(config, (a) => alerts.push(a)); // chains close on the ingest stage's word, as in a detect worker
    // The borrower's close records lost (with a crashed ingest worker): its chains stay open.
    const call = (agentId: string, t0: number, closes = false): void => {
      for (const i of callItems([agentTrace({ t0, agentId, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7', credential: 'shared-key' }] }).doc])) {
        if (i.t === 'call') e.ingestCall(i.call as AgentCall);
        else if (closes) e.closeChain(i.traceId);
      }
    };
    const t = Date.UTC(2026, 5, 1, 10);
    call('owner-agent', t, true); // first to use the key: owns it
    call('borrower-agent', t + 60_000);
    call('borrower-agent', t + 120_000); // a repeat, counted in the open window
    const borrowed = (): Alert[] => alerts.filter((a) => a.agent.id === 'borrower-agent');
    expect(borrowed().map((a) => [a.count, a.update ?? false])).toEqual([[1, false]]);
    const idle = 50 * 60_000;
    // Its own time alone never moves on: the borrower makes no call again.
    expect(e.closeStale(idle).size).toBe(0);
    // Its partition's time, just short of the window's end (an hour after the first alert) plus the grace: nothing yet.
    const window = Date.parse(borrowed()[0].time) + defaultEngineConfig.alerts.rollupWindowMs;
    expect([...e.closeStale(idle, () => window + idle - 60_000)]).toEqual(['borrower-agent']); // its chains, idle an hour and more
    expect(borrowed()).toHaveLength(1);
    expect([...e.closeStale(idle, () => window + idle)]).toEqual(['borrower-agent']);
    const [, update] = borrowed();
    expect(update).toMatchObject({ update: true, count: 2 });
    expect(Date.parse(update.lastSeen) - Date.parse(update.firstSeen)).toBe(60_000);
    // Closed once: a later sweep finds nothing.
    expect(e.closeStale(idle, () => window + 2 * idle).size).toBe(0);
    expect(borrowed()).toHaveLength(2);
  });

  it("judges an agent the same whatever other agents a worker held first (the Kafka bench's warm-up relies on it)", () => {
    const sim = simulate({ seed: 59, agentsPerRole: 2, historyDays: 3, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 20 });
    // A second fleet numbered apart, with baselines of its own, in the days before the first.
    const day = 86_400_000;
    const other = simulate({ seed: 61, agentsPerRole: 2, firstAgent: 11, historyDays: 3, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 20, start: Date.UTC(2026, 5, 1) - 4 * day });
    const both = learnedEngine(sim.history);
    const others = learnedEngine(other.history);
    for (const rec of others.exportAgents(new Set(others.agents.keys())).values()) both.adoptAgent(rec);
    const snapshot = JSON.stringify(both.snapshot());
    const ours = new Set(sim.labels.map((l) => l.agentId));
    const judged = (first: CallItem[]): Alert[] => {
      const alerts: Alert[] = [];
      const e = worker(snapshot, alerts);
      for (const item of first) apply(e, item);
      const before = alerts.length;
      for (const item of callItems(sim.live)) apply(e, item);
      e.flush();
      return alerts.slice(before).filter((a) => ours.has(a.agent.id));
    };
    const alone = judged([]);
    const after = judged(callItems(other.live));
    expect(alone.length).toBeGreaterThan(0);
    expect(after).toEqual(alone);
  });
});
