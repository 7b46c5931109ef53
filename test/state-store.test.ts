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
import { agentTrace } from './helpers/spans.js';
import { decodeTraceRequestJson } from '../src/otlp-json.js';

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

/** One agent learns one more chain and another is forgotten: one row to write, one to delete. */
function changeTwo(engine: Engine, one: string, gone: string, traceId: string): void {
  engine.ingestCall(mkCall({ traceId, time: T0 + 9e9, endTime: T0 + 9e9 + 5, agent: { id: one, source: 'span' } }));
  engine.closeChain(traceId);
  engine.forget(gone);
}

/** A state dir, a store on it, and an engine that learned the simulated history. */
function fresh(): { dir: string; store: StateStore; engine: Engine } {
  const dir = newDir();
  return { dir, store: new StateStore(dir), engine: learnedEngine(sim.history) };
}

/** Closes the store; what a new engine loads from the dir is the engine's state. */
function expectSaved(store: StateStore, engine: Engine): Engine {
  store.close();
  const back = loaded(store.dir);
  expect(sorted(back.snapshot())).toEqual(sorted(engine.snapshot()));
  return back;
}

const rows = (store: StateStore): number => (store.db.prepare('SELECT COUNT(*) AS n FROM agent_state').get() as { n: number }).n;

describe('state store', () => {
  it('gives back what it saved, agent by agent', () => {
    const { store, engine } = fresh();
    expect(store.save(engine)).toEqual({ agents: engine.agents.size, deleted: 0 });
    expect(rows(store)).toBe(engine.agents.size);
    expectSaved(store, engine);
  });

  it('writes only the agents changed since the last save, and deletes the ones dropped', () => {
    const { store, engine } = fresh();
    store.save(engine);
    expect(store.save(engine)).toEqual({ agents: 0, deleted: 0 });
    const [one, gone] = [...engine.agents.keys()];
    changeTwo(engine, one, gone, 'f'.repeat(32));
    expect(store.save(engine)).toEqual({ agents: 1, deleted: 1 });
    expect(rows(store)).toBe(engine.agents.size);
    const back = expectSaved(store, engine);
    expect(back.agents.has(gone)).toBe(false);
    expect(back.agents.get(one)!.calls).toBe(engine.agents.get(one)!.calls);
  });

  it('rewrites an agent put back to a saved baseline (a Kafka handoff), and keeps nothing of what it had learned since', () => {
    const { store, engine } = fresh();
    const [id] = engine.agents.keys();
    const base = engine.snapshot().agents.find((a) => a.id === id)!;
    store.save(engine);
    changeTwo(engine, id, [...engine.agents.keys()][1], 'c'.repeat(32));
    engine.resetAgent(id, base);
    expect(store.save(engine).agents).toBe(1);
    const back = expectSaved(store, engine);
    expect(back.agents.get(id)!.calls).toBe(base.calls);
  });

  it('saves in slices while the engine goes on, and a later save catches up what changed meanwhile', async () => {
    const { store, engine } = fresh();
    engine.markAllChanged();
    const saving = store.saveInSlices(engine, 2);
    // Between slices.
    const [one, gone] = [...engine.agents.keys()].slice(-2);
    changeTwo(engine, one, gone, 'e'.repeat(32));
    await saving;
    store.save(engine);
    expectSaved(store, engine);
  });

  it('leaves nothing taken when a save fails: the next one writes it', () => {
    const { store, engine } = fresh();
    store.db.exec('CREATE TRIGGER no_writes BEFORE INSERT ON agent_state BEGIN SELECT RAISE(ABORT, \'disk full\'); END;');
    expect(() => store.save(engine)).toThrow(/disk full/);
    expect(rows(store)).toBe(0);
    store.db.exec('DROP TRIGGER no_writes');
    expect(store.save(engine).agents).toBe(engine.agents.size);
    expectSaved(store, engine);
  });

  it('reads a whole-fleet snapshot an earlier release left, and writes it by agent at the next save', () => {
    const { store, engine: learner } = fresh();
    store.db.prepare('INSERT INTO snapshots (taken_at, watermark, body) VALUES (?, ?, ?)').run(0, 0, JSON.stringify(learner.snapshot()));
    const engine = new Engine();
    expect(store.load(engine)).toBe(true);
    expect(store.save(engine).agents).toBe(learner.agents.size);
    expectSaved(store, learner);
  });

  it('writes credential owners and aliases only when they changed since the last save', () => {
    const { store, engine } = fresh();
    store.db.exec('CREATE TABLE writes (key TEXT); CREATE TRIGGER log_writes AFTER INSERT ON shared_state BEGIN INSERT INTO writes VALUES (NEW.key); END;');
    const written = (): string[] => {
      const keys = (store.db.prepare('SELECT key FROM writes ORDER BY rowid').all() as { key: string }[]).map((r) => r.key);
      store.db.exec('DELETE FROM writes');
      return keys;
    };
    const every = ['version', 'watermark', 'peers', 'quarantine'];
    store.save(engine);
    expect(written()).toEqual(['version', 'watermark', 'peers', 'credentialOwners', 'aliases', 'quarantine']);
    store.save(engine);
    expect(written()).toEqual(every);
    // A new credential owned; then one resource seen acting for two agents: its alias turns ambiguous.
    const traceId = 'd'.repeat(32);
    engine.ingestCall(mkCall({ traceId, time: T0 + 9e9, endTime: T0 + 9e9 + 5, agent: { id: [...engine.agents.keys()][0], source: 'span' }, credential: 'brand-new-key' }));
    engine.closeChain(traceId);
    store.save(engine);
    expect(written()).toEqual(['version', 'watermark', 'peers', 'credentialOwners', 'quarantine']);
    for (const agentId of ['agent-x', 'agent-y']) {
      const { doc } = agentTrace({ t0: T0 + 9e9 + 1000, agentId, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }] });
      engine.ingestSpans(decodeTraceRequestJson(doc, engine.norm.filter).spans);
      store.save(engine);
      expect(written()).toContain('aliases'); // learned, then turned ambiguous
    }
    store.db.exec('DROP TRIGGER log_writes; DROP TABLE writes;');
    const back = expectSaved(store, engine);
    expect(back.snapshot().aliases.find(([k]) => k === 'support-svc|pod-1')?.[1].ambiguous).toBe(true);
    expect(back.global.credentialOwners.has('brand-new-key')).toBe(true);
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

  it('says what is wrong with a state directory that is a file', () => {
    const file = join(root, 'not-a-dir');
    writeFileSync(file, 'x');
    expect(() => new StateStore(file)).toThrow(/^cannot use .*not-a-dir as the state directory: it, or a directory above it, is a file; give --state \(or state_dir\) a directory/);
    expect(() => new StateStore(join(file, 'below'))).toThrow(/below as the state directory: it, or a directory above it, is a file/);
  });
});
