/**
 * The state directory keeps engine state by agent: a save writes the agents changed since the
 * last one and deletes those dropped; a load gives back what was saved; state an earlier release
 * left as one whole-fleet snapshot is read and then written by agent.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, type EngineSnapshot } from '../src/engine.js';
import { simulate } from '../src/simulate.js';
import { StateStore } from '../src/state-store.js';
import { learnedEngine } from './helpers/learned.js';
import { T0, mkCall } from './helpers/detector-harness.js';

const root = mkdtempSync(join(tmpdir(), 'chainwatch-state-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(root, `s${++dirs}`);

const sim = simulate({ agentsPerRole: 3, historyDays: 3, liveDays: 1, chainsPerAgentDay: 8, attacksPerClass: 1 });

/** A snapshot with agents in id order: the order agents are held in is not part of their state. */
function sorted(s: EngineSnapshot): EngineSnapshot {
  return { ...s, agents: [...s.agents].sort((a, b) => (a.id < b.id ? -1 : 1)) };
}

function loaded(dir: string): Engine {
  const engine = new Engine();
  const store = new StateStore(dir);
  expect(store.load(engine)).toBe(true);
  store.close();
  return engine;
}

const rows = (store: StateStore): number => (store.db.prepare('SELECT COUNT(*) AS n FROM agent_state').get() as { n: number }).n;

describe('state store', () => {
  it('gives back what it saved, agent by agent', () => {
    const dir = newDir();
    const learner = learnedEngine(sim.history);
    const store = new StateStore(dir);
    const first = store.save(learner);
    expect(first).toEqual({ agents: learner.agents.size, deleted: 0 });
    expect(rows(store)).toBe(learner.agents.size);
    store.close();
    expect(sorted(loaded(dir).snapshot())).toEqual(sorted(learner.snapshot()));
  });

  it('writes only the agents changed since the last save, and deletes the ones dropped', () => {
    const dir = newDir();
    const engine = learnedEngine(sim.history);
    const store = new StateStore(dir);
    store.save(engine);
    expect(store.save(engine)).toEqual({ agents: 0, deleted: 0 });
    const [one, gone] = [...engine.agents.keys()];
    const traceId = 'f'.repeat(32);
    engine.ingestCall(mkCall({ traceId, time: T0 + 9e9, endTime: T0 + 9e9 + 5, agent: { id: one, source: 'span' } }));
    engine.closeChain(traceId);
    engine.forget(gone);
    expect(store.save(engine)).toEqual({ agents: 1, deleted: 1 });
    expect(rows(store)).toBe(engine.agents.size);
    store.close();
    const back = loaded(dir);
    expect(back.agents.has(gone)).toBe(false);
    expect(back.agents.get(one)!.calls).toBe(engine.agents.get(one)!.calls);
    expect(sorted(back.snapshot())).toEqual(sorted(engine.snapshot()));
  });

  it('saves in slices while the engine goes on, and a later save catches up what changed meanwhile', async () => {
    const dir = newDir();
    const engine = learnedEngine(sim.history);
    engine.markAllChanged();
    const store = new StateStore(dir);
    const saving = store.saveInSlices(engine, 2);
    // Between slices: an agent learns one more chain and another is forgotten.
    const [one, gone] = [...engine.agents.keys()].slice(-2);
    const traceId = 'e'.repeat(32);
    engine.ingestCall(mkCall({ traceId, time: T0 + 9e9, endTime: T0 + 9e9 + 5, agent: { id: one, source: 'span' } }));
    engine.closeChain(traceId);
    engine.forget(gone);
    await saving;
    store.save(engine);
    store.close();
    expect(sorted(loaded(dir).snapshot())).toEqual(sorted(engine.snapshot()));
  });

  it('leaves nothing taken when a save fails: the next one writes it', () => {
    const dir = newDir();
    const engine = learnedEngine(sim.history);
    const store = new StateStore(dir);
    store.db.exec('CREATE TRIGGER no_writes BEFORE INSERT ON agent_state BEGIN SELECT RAISE(ABORT, \'disk full\'); END;');
    expect(() => store.save(engine)).toThrow(/disk full/);
    expect(rows(store)).toBe(0);
    store.db.exec('DROP TRIGGER no_writes');
    expect(store.save(engine).agents).toBe(engine.agents.size);
    store.close();
    expect(sorted(loaded(dir).snapshot())).toEqual(sorted(engine.snapshot()));
  });

  it('reads a whole-fleet snapshot an earlier release left, and writes it by agent at the next save', () => {
    const dir = newDir();
    const learner = learnedEngine(sim.history);
    const store = new StateStore(dir);
    store.db.prepare('INSERT INTO snapshots (taken_at, watermark, body) VALUES (?, ?, ?)').run(0, 0, JSON.stringify(learner.snapshot()));
    const engine = new Engine();
    expect(store.load(engine)).toBe(true);
    expect(store.save(engine).agents).toBe(learner.agents.size);
    store.close();
    expect(sorted(loaded(dir).snapshot())).toEqual(sorted(learner.snapshot()));
  });

  it('names the file and the way out when saved state cannot be read', () => {
    const dir = newDir();
    const store = new StateStore(dir);
    store.db.prepare('INSERT INTO shared_state (key, body) VALUES (?, ?)').run('version', '{not json');
    expect(() => store.load(new Engine())).toThrow(/cannot read the saved state in .*state\.db.*move it away to start fresh/);
    store.close();
    const legacy = newDir();
    new StateStore(legacy).close();
    writeFileSync(join(legacy, 'state.json'), '{');
    expect(() => new StateStore(legacy).load(new Engine())).toThrow(/state\.json/);
  });
});
