/**
 * Interner compaction: a long-running engine re-interns its baselines into a fresh interner that
 * keeps only the strings still in use. It must change nothing but memory: the same alerts and the
 * same learned state as an engine that never compacts.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/alerts.js';
import { COMPACT_FROM, type Compaction, Engine, type EngineSnapshot, defaultEngineConfig } from '../src/engine.js';
import { decodeTraceRequestJson } from '../src/otlp-json.js';
import { simulate } from '../src/simulate.js';
import { SHORT_LIFECYCLE } from './helpers/learned.js';

const config = { ...defaultEngineConfig, lifecycle: SHORT_LIFECYCLE };

/**
 * Every request fed in two halves — a trace's root span comes last, so its chain stays open across
 * the cut — compacting between the halves of every `compactEvery`-th request: chains with calls
 * already scored (their scratch keeping ids) go on under the fresh interner.
 */
function run(docs: object[], compactEvery: number): { alerts: string[]; engine: Engine } {
  const alerts: string[] = [];
  const engine = new Engine(config, (a: Alert) => alerts.push(JSON.stringify(a)));
  docs.forEach((doc, i) => {
    const spans = decodeTraceRequestJson(doc, engine.norm.filter).spans;
    const half = Math.floor(spans.length / 2);
    engine.ingestSpans(spans.slice(0, half));
    if (compactEvery > 0 && i % compactEvery === compactEvery - 1) engine.compactInterner();
    engine.ingestSpans(spans.slice(half));
  });
  engine.flush();
  return { alerts, engine };
}

/**
 * The same, with compactions in steps of `slice` baselines, one step between the halves of each
 * request (as a live service lets its event loop run between steps): one starts every `every`
 * requests when none is running.
 */
function runStepped(docs: object[], every: number, slice: number): { alerts: string[]; engine: Engine; done: Compaction[] } {
  const alerts: string[] = [];
  const engine = new Engine(config, (a: Alert) => alerts.push(JSON.stringify(a)));
  const done: Compaction[] = [];
  let steps: Generator<void, Compaction, void> | undefined;
  docs.forEach((doc, i) => {
    const spans = decodeTraceRequestJson(doc, engine.norm.filter).spans;
    const half = Math.floor(spans.length / 2);
    engine.ingestSpans(spans.slice(0, half));
    if (steps === undefined && i % every === every - 1) steps = engine.compactSteps(slice);
    const r = steps?.next();
    if (r?.done === true) {
      done.push(r.value);
      steps = undefined;
    }
    engine.ingestSpans(spans.slice(half));
  });
  engine.flush();
  return { alerts, engine, done };
}

const sorted = (s: EngineSnapshot): EngineSnapshot => ({ ...s, agents: [...s.agents].sort((a, b) => (a.id < b.id ? -1 : 1)) });

describe('interner compaction', () => {
  // Research agents browse new sites daily: their tables evict, their strings stayed interned.
  const sim = simulate({ agentsPerRole: 4, historyDays: 3, liveDays: 6, chainsPerAgentDay: 10, attacksPerClass: 2 });
  const docs = [...sim.history, ...sim.live];

  it('changes no alert and no learned state, however often it runs mid-stream', () => {
    const plain = run(docs, 0);
    const compacted = run(docs, 7);
    expect(plain.alerts.length).toBeGreaterThan(10);
    expect(compacted.alerts).toEqual(plain.alerts);
    expect(sorted(compacted.engine.snapshot())).toEqual(sorted(plain.engine.snapshot()));
  });

  it('changes no alert and no learned state when it runs in steps while spans keep coming', () => {
    const plain = run(docs, 0);
    const stepped = runStepped(docs, 150, 4);
    expect(stepped.alerts).toEqual(plain.alerts);
    expect(sorted(stepped.engine.snapshot())).toEqual(sorted(plain.engine.snapshot()));
    // Several compactions ran to their end, and baselines that changed after they were rebuilt were rebuilt again.
    expect(stepped.done.length).toBeGreaterThan(2);
    expect(stepped.done.some((c) => c.rounds > 1)).toBe(true);
    const baselines = stepped.engine.agents.size + stepped.engine.peers.size;
    expect(stepped.done.some((c) => c.rebuilt > baselines)).toBe(true);
    expect(stepped.engine.intern.size).toBeLessThan(plain.engine.intern.size);
  });

  it('leaves the engine as it was when a compaction in steps is given up half-way', () => {
    const { engine } = run(docs, 0);
    const before = sorted(engine.snapshot());
    const size = engine.intern.size;
    const steps = engine.compactSteps(4);
    steps.next();
    steps.next();
    steps.return(undefined as never);
    expect(engine.intern.size).toBe(size);
    expect(sorted(engine.snapshot())).toEqual(before);
    expect(engine.compactInterner().after).toBeLessThan(size);
  });

  it('keeps only the strings baselines still use', () => {
    const { engine } = run(docs, 0);
    const { before, after } = engine.compactInterner();
    expect(before).toBe(run(docs, 0).engine.intern.size);
    expect(after).toBeLessThan(before * 0.8);
    // A second compaction with nothing learned in between keeps the same strings.
    expect(engine.compactInterner().after).toBe(after);
  });

  it('waits until the interner is large and has doubled since the last compaction', () => {
    const { engine } = run(docs.slice(0, 200), 0);
    expect(engine.intern.size).toBeLessThan(COMPACT_FROM);
    expect(engine.compactionDue).toBe(false);
  });
});
