/**
 * Agents that come and go (ids per pod, past the agent cap): what the engine holds stays bounded
 * by the agents it keeps, and peer groups count the agents they have.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/alerts.js';
import { arena } from '../src/arena.js';
import { Engine, defaultEngineConfig } from '../src/engine.js';
import { HOUR, T0, mkCall } from './helpers/detector-harness.js';

const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0');
let trace = 0;

/** One closed chain of two calls for the agent, `at` ms after T0. */
function chainOf(engine: Engine, agent: { id: string; name?: string }, at: number): void {
  const traceId = hex(++trace, 32);
  for (const k of [0, 1]) {
    engine.ingestCall(mkCall({ traceId, time: T0 + at + k, endTime: T0 + at + k + 5, agent: { ...agent, source: 'span' }, credential: `key-${agent.id}` }));
  }
  engine.closeChain(traceId);
}

describe('agent churn', () => {
  it('past the agent cap, agents that left keep no baseline words and no peer group of their own', () => {
    const engine = new Engine({ ...defaultEngineConfig, maxAgents: 20 });
    // Named agents share a group; the pods' agents are known by id alone, each its own group.
    const named = (i: number) => ({ id: `worker-${i}`, name: 'worker' });
    const pod = (i: number) => ({ id: `pod-${i}` });
    for (let i = 0; i < 20; i++) chainOf(engine, i % 2 ? named(i) : pod(i), i * 1000);
    const steady = arena.liveWords;
    for (let i = 20; i < 2_000; i++) chainOf(engine, i % 2 ? named(i) : pod(i), i * 1000);
    expect(engine.agents.size).toBe(20);
    // The groups held are the workers' and those of the pods still held.
    const pods = [...engine.agents.values()].filter((a) => a.name === undefined).length;
    expect(engine.peers.size).toBe(pods + 1);
    expect(engine.peers.get('worker')!.agents).toBe(20 - pods);
    // What 20 agents held, give or take a table's growth: not a hundred times that.
    expect(arena.liveWords).toBeLessThanOrEqual(steady * 1.2);
  });

  it('forgetting the last agent of a group drops the group; its next agent starts one afresh', () => {
    const engine = new Engine(defaultEngineConfig);
    chainOf(engine, { id: 'solo-1', name: 'solo' }, 0);
    expect(engine.peers.get('solo')!.agents).toBe(1);
    engine.forget('solo-1');
    expect(engine.peers.has('solo')).toBe(false);
    chainOf(engine, { id: 'solo-2', name: 'solo' }, 1000);
    expect(engine.peers.get('solo')!.agents).toBe(1);
  });

  it('closes the rollup windows of agents gone quiet while others go on, with their counts', () => {
    const alerts: Alert[] = [];
    const engine = new Engine({ ...defaultEngineConfig, maxAgents: 100 }, (a) => alerts.push(a));
    // One credential, owned by the first agent to use it: the second's every chain is misuse.
    const owner = { id: 'owner-agent' };
    const borrower = { id: 'borrower-agent' };
    const use = (agent: { id: string }, at: number): void => {
      const traceId = hex(++trace, 32);
      engine.ingestCall(mkCall({ traceId, time: T0 + at, endTime: T0 + at + 5, agent: { ...agent, source: 'span' }, credential: 'shared-key' }));
      engine.closeChain(traceId);
    };
    use(owner, 0);
    for (let i = 1; i <= 3; i++) use(borrower, i * 60_000);
    const misuse = alerts.filter((a) => a.agent.id === borrower.id);
    expect(misuse.map((a) => [a.count, a.update ?? false])).toEqual([[1, false]]);
    // The owner alone goes on for hours: the borrower's window (an hour) is left open by its own time.
    for (let i = 1; i <= 4 * 60; i++) use(owner, i * 60_000);
    expect(alerts.filter((a) => a.agent.id === borrower.id)).toHaveLength(1);
    engine.expireRollups(engine.now - 5 * 60_000);
    const update = alerts.filter((a) => a.agent.id === borrower.id)[1];
    expect(update).toMatchObject({ update: true, count: 3, signature: misuse[0].signature });
    // Windows still open in event time are left alone.
    use(borrower, 4 * HOUR + 1);
    const before = alerts.length;
    engine.expireRollups(engine.now - 5 * 60_000);
    expect(alerts.length).toBe(before);
  });
});

describe('agent cap', () => {
  it('drops the agent least recently active, not the one known longest', () => {
    const engine = new Engine({ ...defaultEngineConfig, maxAgents: 3 });
    const agent = (id: string) => ({ id, name: 'worker' });
    chainOf(engine, agent('a'), 0);
    chainOf(engine, agent('b'), 1000);
    chainOf(engine, agent('c'), 2000);
    chainOf(engine, agent('a'), 3000); // a is at work again
    chainOf(engine, agent('d'), 4000);
    expect([...engine.agents.keys()].sort()).toEqual(['a', 'c', 'd']);
    expect(engine.peers.get('worker')!.agents).toBe(3);
  });

  it('sends the rollup update of an agent it drops, with its count', () => {
    const alerts: Alert[] = [];
    const engine = new Engine({ ...defaultEngineConfig, maxAgents: 2 }, (a) => alerts.push(a));
    const use = (id: string, at: number): void => {
      const traceId = hex(++trace, 32);
      engine.ingestCall(mkCall({ traceId, time: T0 + at, endTime: T0 + at + 5, agent: { id, source: 'span' }, credential: 'shared-key-2' }));
      engine.closeChain(traceId);
    };
    use('owner', 0);
    use('borrower', 1000);
    use('borrower', 2000); // a repeat inside the hour
    use('owner', 3000);
    use('newcomer', 4000); // past the cap: the borrower, least recently active, goes
    expect(engine.agents.has('borrower')).toBe(false);
    expect(alerts.filter((a) => a.agent.id === 'borrower').map((a) => [a.count, a.update ?? false])).toEqual([[1, false], [2, true]]);
  });
});

describe('quarantine', () => {
  it('holds flagged chains up to a total of calls, the oldest going first', () => {
    const engine = new Engine({ ...defaultEngineConfig, maxQuarantineCalls: 10 });
    const chain = (id: string, calls: number, at: number): string => {
      const traceId = hex(++trace, 32);
      for (let k = 0; k < calls; k++) {
        engine.ingestCall(mkCall({ traceId, time: T0 + at + k, endTime: T0 + at + k + 5, agent: { id, source: 'span' }, credential: 'owned-key' }));
      }
      engine.closeChain(traceId);
      return traceId;
    };
    chain('owner', 1, 0);
    // Each of the borrower's chains uses the owner's credential: flagged, held back from learning.
    const held = [chain('borrower', 4, 1000), chain('borrower', 4, 2000), chain('borrower', 4, 3000)];
    expect(held.map((t) => engine.quarantine.has(t))).toEqual([false, true, true]);
    // One chain over the limit on its own is still held: the newest is never the one dropped.
    const big = chain('borrower', 12, 4000);
    expect([...engine.quarantine.keys()]).toEqual([big]);
  });

  it('lets an agent dropped past the agent cap take its quarantined chains with it', () => {
    const engine = new Engine({ ...defaultEngineConfig, maxAgents: 2 });
    const use = (id: string, at: number, credential: string): string => {
      const traceId = hex(++trace, 32);
      engine.ingestCall(mkCall({ traceId, time: T0 + at, endTime: T0 + at + 5, agent: { id, source: 'span' }, credential }));
      engine.closeChain(traceId);
      return traceId;
    };
    use('owner', 0, 'owned-key-3');
    const flagged = use('borrower', 1000, 'owned-key-3');
    expect(engine.quarantine.has(flagged)).toBe(true);
    use('owner', 2000, 'owned-key-3');
    use('newcomer', 3000, 'own-key'); // past the cap: the borrower, least recently active, goes
    expect(engine.agents.has('borrower')).toBe(false);
    // Nothing is left to learn it into: held, it only took room from chains that can be confirmed.
    expect(engine.quarantine.has(flagged)).toBe(false);
    expect(engine.confirm(flagged)).toBe(false);
    // The same when an analyst forgets the agent; the other agents' chains stay held.
    const held = use('owner', 4000, 'own-key'); // the newcomer's key, in the owner's hands
    const again = use('borrower', 5000, 'owned-key-3');
    expect([held, again].map((t) => engine.quarantine.has(t))).toEqual([true, true]);
    expect(engine.forget('borrower')).toBe(true);
    expect([held, again].map((t) => engine.quarantine.has(t))).toEqual([true, false]);
  });
});
