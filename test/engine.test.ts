import { describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { readFileSync } from 'node:fs';
import type { Alert } from '../src/alerts.js';
import { Engine, defaultEngineConfig } from '../src/engine.js';
import { evaluate } from '../src/evaluate.js';
import { simulate } from '../src/simulate.js';
import { feed, newEngine } from './helpers/pipeline.js';
import { MIN, T0, mkCall } from './helpers/detector-harness.js';
import { SHORT_LIFECYCLE } from './helpers/learned.js';

const sim = simulate({ agentsPerRole: 3, historyDays: 10, liveDays: 2, chainsPerAgentDay: 16, attacksPerClass: 3 });

function learnThenDetect(restart: boolean): { alerts: Alert[]; engine: Engine } {
  const first = newEngine();
  first.engine.mode = 'learn';
  feed(first.engine, first.filter, sim.history);
  first.engine.flush();
  let run = first;
  if (restart) {
    run = newEngine();
    run.engine.restore(JSON.parse(JSON.stringify(first.engine.snapshot())));
  }
  run.engine.mode = 'detect';
  feed(run.engine, run.filter, sim.live);
  run.engine.flush();
  return { alerts: run.alerts, engine: run.engine };
}

function newEngineFrom(snapshot: string): Engine {
  const { engine } = newEngine();
  engine.restore(JSON.parse(snapshot));
  return engine;
}

describe('engine on a simulated fleet', () => {
  const live = learnThenDetect(false);

  it('catches every attack class with few false positives', () => {
    const e = evaluate(sim.labels, live.alerts);
    for (const c of e.classes) expect(c.recall, c.label).toBeGreaterThanOrEqual(0.66);
    expect(e.overall.recall).toBeGreaterThanOrEqual(0.9);
    expect(e.benign.perThousand).toBeLessThan(15);
  });

  it('is deterministic: the same input and state give the same alerts', () => {
    expect(learnThenDetect(false).alerts).toEqual(live.alerts);
  });

  it('gives the same alerts after a snapshot and restore between learning and detection', () => {
    expect(learnThenDetect(true).alerts).toEqual(live.alerts);
  });

  it('learns calls per minute from `learn` history, so a burst is caught in the first live minutes', () => {
    const r = newEngine();
    r.engine.mode = 'learn';
    feed(r.engine, r.filter, sim.history);
    r.engine.flush();
    const agent = r.engine.agents.get('billing-agent-01')!;
    const minutes = (JSON.parse(JSON.stringify(r.engine.snapshot())) as { agents: { id: string; detectors: Record<string, { s: number[] }> }[] })
      .agents.find((a) => a.id === agent.id)!.detectors['rate-burst'].s[0];
    expect(minutes).toBeGreaterThan(100);
    r.engine.mode = 'detect';
    const t = Math.ceil(r.engine.now / MIN) * MIN + MIN;
    const identity = { id: agent.id, name: agent.name, service: agent.service, source: 'trace' as const };
    for (let i = 0; i < 120; i++) {
      r.engine.ingestCall(mkCall({ time: t + i * 400, endTime: t + i * 400 + 50, traceId: 'b'.repeat(31) + 'c', spanId: (i + 1).toString(16).padStart(16, '0'), agent: identity, host: 'billing.corp.internal' }));
    }
    r.engine.flush();
    expect(r.alerts.some((a) => a.detectors.includes('rate-burst') && a.agent.id === agent.id)).toBe(true);
  });

  it('takes a learned history\'s spikes as normal: the same spike live raises no burst', () => {
    const r = newEngine({ lifecycle: SHORT_LIFECYCLE });
    const identity = { id: 'batch-agent-01', name: 'batch-agent', source: 'trace' as const };
    let span = 0;
    const minuteOf = (m: number, calls: number): void => {
      const t = T0 + m * MIN;
      for (let i = 0; i < calls; i++) r.engine.ingestCall(mkCall({ time: t + i * 900, endTime: t + i * 900 + 50, traceId: (m + 1).toString(16).padStart(32, '0'), spanId: (++span).toString(16).padStart(16, '0'), agent: identity }));
    };
    r.engine.mode = 'learn';
    // Three calls a minute; after 100 minutes, a batch of 60 every tenth minute.
    for (let m = 0; m < 300; m++) minuteOf(m, m >= 100 && m % 10 === 9 ? 60 : 3);
    r.engine.flush();
    r.engine.mode = 'detect';
    minuteOf(400, 60);
    r.engine.flush();
    expect(r.alerts.filter((a) => a.detectors.includes('rate-burst'))).toEqual([]);
  });

  it('with detectors off (policy test), raises no learned anomaly, of a call or of a chain, and holds no chain back', () => {
    const r = newEngine();
    r.engine.mode = 'learn';
    feed(r.engine, r.filter, sim.history);
    r.engine.flush();
    r.engine.mode = 'detect';
    r.engine.detectorsOn = false;
    feed(r.engine, r.filter, sim.live);
    r.engine.flush();
    expect(r.alerts).toEqual([]);
    expect(r.engine.quarantine.size).toBe(0);
    expect(r.engine.stats.chains).toBeGreaterThan(100);
  });

  it('with learning off (replay --frozen), judges every chain against the baselines as loaded and changes none', () => {
    const learned = newEngine();
    learned.engine.mode = 'learn';
    feed(learned.engine, learned.filter, sim.history);
    learned.engine.flush();
    const snapshot = JSON.stringify(learned.engine.snapshot());
    const frozen = (): ReturnType<typeof newEngine> => {
      const r = newEngine();
      r.engine.restore(JSON.parse(snapshot));
      r.engine.learningOn = false;
      feed(r.engine, r.filter, sim.live);
      r.engine.flush();
      return r;
    };
    const once = frozen();
    // What was learned, by agent: everything but rate-burst's current minute (a window, not a baseline).
    const agentsOf = (e: Engine): unknown => (JSON.parse(JSON.stringify(e.snapshot())) as { agents: { id: string; calls: number; chains: number; phase: string; detectors: Record<string, { s?: unknown }> }[] }).agents
      .map((a) => [a.id, a.calls, a.chains, a.phase, { ...a.detectors, 'rate-burst': a.detectors['rate-burst'].s }])
      .sort((x, y) => (x[0] < y[0] ? -1 : 1));
    expect(agentsOf(once.engine)).toEqual(agentsOf(newEngineFrom(snapshot)));
    expect(once.engine.quarantine.size).toBe(0);
    expect(frozen().alerts).toEqual(once.alerts);
    // The same live days with learning on differ: the API version bump becomes normal after its first alerts.
    const drift = (alerts: Alert[]): number => alerts.filter((a) => a.detectors.includes('new-action') && /version/i.test(a.title)).length;
    expect(drift(once.alerts)).toBeGreaterThan(drift(live.alerts));
  });

  it('writes alerts that validate against schemas/alert.schema.json and explain themselves', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    (addFormatsModule as unknown as { default: (a: Ajv2020) => void }).default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(new URL('../schemas/alert.schema.json', import.meta.url), 'utf8')));
    for (const a of live.alerts) {
      expect(validate(JSON.parse(JSON.stringify(a))), JSON.stringify(validate.errors)).toBe(true);
      expect(a.evidence.every((e) => e.reason.includes(a.agent.id) || e.reason.length > 20)).toBe(true);
    }
    const exfil = live.alerts.find((a) => a.detectors.includes('sensitive-exfil'));
    expect(exfil?.severity).toBe('critical');
    expect(exfil?.summary).toMatch(/paste-drop\.io|evil-mail\.net/);
  });

  it('raises at most one low alert per agent for a fleet-wide API version bump', () => {
    const drift = live.alerts.filter((a) => a.signature.startsWith('api-drift:') && a.update !== true);
    const perAgent = new Map<string, number>();
    for (const a of drift) perAgent.set(a.agent.id, (perAgent.get(a.agent.id) ?? 0) + 1);
    expect(drift.length).toBeGreaterThan(0);
    for (const [, n] of perAgent) expect(n).toBe(1);
    expect(drift.every((a) => a.severity === 'low')).toBe(true);
  });

  it('does not flood on research agents whose work is browsing new sites', () => {
    const research = live.alerts.filter((a) => a.agent.id.startsWith('research-') && a.update !== true);
    const researchChains = sim.labels.filter((l) => l.agentId.startsWith('research-')).length;
    expect(researchChains).toBeGreaterThan(50);
    expect(research.length).toBeLessThanOrEqual(2);
  });

  it('holds flagged chains back from learning until confirmed', () => {
    const { engine } = live;
    const exfil = sim.labels.find((l) => l.label === 'exfiltration')!;
    expect(engine.quarantine.has(exfil.traceId)).toBe(true);
    const agent = engine.agents.get(exfil.agentId)!;
    const before = agent.chains;
    expect(engine.confirm(exfil.traceId)).toBe(true);
    expect(agent.chains).toBe(before + 1);
    expect(engine.quarantine.has(exfil.traceId)).toBe(false);
    expect(engine.confirm(exfil.traceId)).toBe(false);
  });

  it('forgets an agent on request: it learns again, and its peers stand in meanwhile', () => {
    const { engine } = learnThenDetect(false);
    const agent = engine.agents.get('billing-agent-01')!;
    const group = engine.peers.get(agent.group)!;
    const enforcing = group.enforcing;
    expect(engine.forget('billing-agent-01')).toBe(true);
    expect(engine.agents.has('billing-agent-01')).toBe(false);
    expect(group.enforcing).toBe(enforcing - 1);
    expect(engine.forget('billing-agent-01')).toBe(false);
    expect(engine.agentFor({ id: 'billing-agent-01', name: 'billing-agent', source: 'span' }).phase).toBe('learning');
  });

  it('finds an agent as it is now for an identity it has seen, after the agent was forgotten or reset', () => {
    // One identity object serves every call of a chain, and the engine remembers the last one it
    // looked up: a chain that goes on after its agent was forgotten must not reach the old state.
    const { engine } = learnThenDetect(false);
    const id = 'billing-agent-01';
    const identity = { id, name: 'billing-agent', source: 'span' as const };
    const saved = engine.snapshot().agents.find((a) => a.id === id)!;
    const before = engine.agentFor(identity);
    expect(before.phase).toBe('enforcing');
    engine.forget(id);
    const after = engine.agentFor(identity);
    expect(after).not.toBe(before);
    expect(after.phase).toBe('learning');
    expect(engine.agents.get(id)).toBe(after);
    engine.resetAgent(id, saved);
    const restored = engine.agentFor(identity);
    expect(restored).not.toBe(after);
    expect(restored.phase).toBe('enforcing');
    expect(engine.agents.get(id)).toBe(restored);
  });

  it('keeps typical agent baselines within 4 KB and every baseline under its hard caps', () => {
    // Research agents fill every table to its cap (new sites daily); the others are typical.
    // Real heap + arena bytes are measured by `npm run bench` (docs/benchmarks.md).
    for (const agent of live.engine.agents.values()) {
      const bytes = live.engine.agentBytes(agent);
      expect(bytes, agent.id).toBeLessThanOrEqual(agent.id.startsWith('research-') ? 6 * 1024 : 4096);
    }
  });

  it('rejects a snapshot of another version with a clear error', () => {
    const e = new Engine(defaultEngineConfig);
    expect(() => e.restore({ ...live.engine.snapshot(), version: 99 })).toThrow(/state version 99 is not supported/);
  });
});
