/**
 * `npm run bench:state`: what keeping a large fleet's state costs the event loop. An engine learns
 * BENCH_AGENTS agents (typical baselines: 8 hosts, 5 tools, 3 principals), then:
 *  1. the whole fleet as one JSON row, as releases before state by agent wrote it every minute;
 *  2. a first save by agent (every agent) in one transaction, and the same in slices with the
 *     event loop's longest stall measured by a setImmediate probe;
 *  3. a save after 5% of the agents learned one more chain (a busy minute), and a restart's load;
 *  4. an interner compaction of the whole fleet at once, and one in steps (Engine.compactSteps, as
 *     `chainwatch serve` runs it) with the event loop's longest stall, while a timer keeps 1% of the
 *     agents learning a chain every few milliseconds (so that baselines change under it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Engine, defaultEngineConfig } from '../../src/engine.js';
import { StateStore } from '../../src/state-store.js';
import { runInSteps } from '../../src/steps.js';
import { fleetCall } from '../helpers/fleet-calls.js';
import { SHORT_LIFECYCLE } from '../helpers/learned.js';

const N = Number(process.env.BENCH_AGENTS ?? 20_000);
const engine = new Engine({ ...defaultEngineConfig, lifecycle: SHORT_LIFECYCLE });
engine.mode = 'learn';
let seq = 0;
const T0 = Date.UTC(2026, 5, 1);

/** `chains` chains of six calls for each agent in [from, to), starting at chain `first`. */
function learn(from: number, to: number, first: number, chains: number): void {
  for (let a = from; a < to; a++) {
    for (let c = first; c < first + chains; c++) {
      const t = T0 + c * 5 * 3_600_000;
      const traceId = (++seq).toString(16).padStart(32, '0');
      for (let j = 0; j < 6; j++) engine.ingestCall(fleetCall(a, c * 6 + j, t + j * 1000, traceId, (++seq).toString(16).padStart(16, '0')));
      engine.closeChain(traceId);
    }
  }
}

const ms = (t0: number): string => `${Math.round(performance.now() - t0)} ms`;

/**
 * The event loop's longest stall from now until `stop`, measured by a setImmediate loop;
 * `between` runs at each of its turns, outside the time measured (work that goes on meanwhile).
 */
function stallProbe(between: () => void = () => {}): { stop(): Promise<number> } {
  let longest = 0;
  let last = performance.now();
  let probing = true;
  const probed = (async () => {
    while (probing) {
      await yieldToLoop();
      longest = Math.max(longest, performance.now() - last);
      between();
      last = performance.now();
    }
  })();
  return {
    stop: async () => {
      probing = false;
      await probed;
      return longest;
    },
  };
}

console.error(`learning ${N} agents…`);
learn(0, N, 0, 60);
const dir = mkdtempSync(join(tmpdir(), 'chainwatch-bench-state-'));
try {
  const store = new StateStore(dir);
  let t = performance.now();
  const whole = JSON.stringify(engine.snapshot());
  store.db.prepare('INSERT INTO snapshots (taken_at, watermark, body) VALUES (?, ?, ?)').run(0, 0, whole);
  console.log(`whole fleet as one JSON row (the earlier snapshot, every minute): ${(whole.length / 1e6).toFixed(0)} MB, ${ms(t)} in one stall`);
  store.db.exec('DELETE FROM snapshots');
  t = performance.now();
  const first = store.save(engine);
  console.log(`first save by agent, one transaction: ${first.agents} agents, ${ms(t)}`);

  engine.markAllChanged();
  const stalls = stallProbe();
  t = performance.now();
  const sliced = await store.saveInSlices(engine);
  const slicedMs = ms(t);
  console.log(`the same in slices: ${sliced.agents} agents, ${slicedMs}, longest event-loop stall ${Math.round(await stalls.stop())} ms`);

  learn(0, Math.round(N / 20), 60, 1);
  t = performance.now();
  const busy = store.save(engine);
  console.log(`a save after ${busy.agents} agents learned a chain: ${ms(t)}`);
  store.close();

  t = performance.now();
  const reader = new StateStore(dir);
  const restarted = new Engine(engine.config);
  reader.load(restarted);
  reader.close();
  console.log(`a restart's load: ${restarted.agents.size} agents, ${ms(t)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// Strings no baseline holds any more, as a long-running service gathers them (evicted values).
const grow = (): void => {
  for (let i = 0; i < 300_000 && !engine.compactionDue; i++) engine.intern.id(`gone-${seq++}`);
};
grow();
let t = performance.now();
const c = engine.compactInterner();
console.log(`interner compaction at once: ${c.before} → ${c.after} strings, ${ms(t)} in one stall`);

grow();
let chain = 0;
const share = Math.floor(N / 100);
// Agents at work between steps: 1% of the fleet learns a chain every fourth turn of the loop.
const busy = stallProbe(() => {
  if (chain++ % 4 === 0) learn((chain % 100) * share, (chain % 100) * share + share, 60 + chain, 1);
});
t = performance.now();
const stepped = await runInSteps(engine.compactSteps());
const stepsMs = ms(t);
console.log(`interner compaction in steps: ${stepped.before} → ${stepped.after} strings, ${stepped.rounds} rounds, ${stepped.rebuilt} baselines rebuilt, ${stepsMs}, longest event-loop stall ${Math.round(await busy.stop())} ms`);
