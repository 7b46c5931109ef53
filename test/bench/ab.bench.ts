/**
 * `BENCH_BASE=DIR npm run bench:ab`: the whole hot path of another build against this one, on one
 * core, interleaved request by request so that both see the same machine speed — this machine's
 * speed drifts by more than most single changes (separate runs of identical code differ by ±7%).
 * DIR is the other build's `dist` (e.g. `git worktree add /tmp/base REV`, link its node_modules,
 * `npx tsc -p tsconfig.build.json`, then BENCH_BASE=/tmp/base/dist). Both builds learn the same
 * history and replay the same live batches; each round starts both from their learned state.
 * Prints this build's speed relative to the other per round, and the median over the rounds
 * after BENCH_WARMUP (default 4) not counted, with GC pauses and without them (see
 * mutatorRatios). Interleaving shares caches and the GC between the two, so absolute spans/s are
 * lower than `npm run bench`'s; the ratio is what it is for.
 * Both engines are moved to the old generation before each round (`promote`), as a running
 * service's is. A change to what the GC keeps alive shows poorly here: one build's retained
 * garbage makes the scavenges that stop both. Compare such a change in separate processes.
 * BENCH_POLICIES=1 loads the bench's 100-rule policy set (test/helpers/bench-policies.ts) into
 * both, each through its own policy engine: a change can speed the plain path and slow policy
 * evaluation.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawSpan } from '../../src/span.js';
import type { PolicyEngine } from '../../src/policy-engine.js';
import type { loadPolicyText } from '../../src/policy-load.js';
import { hundredRulesText } from '../helpers/bench-policies.js';
import type * as self from '../../src/engine.js';
import type { decodeTraceRequest } from '../../src/otlp-proto.js';
import { simulate } from '../../src/simulate.js';
import { toBatches } from '../helpers/batches.js';
import { median, promote } from '../helpers/bench.js';
import { SHORT_LIFECYCLE } from '../helpers/learned.js';

interface Build {
  Engine: typeof self.Engine;
  config: self.EngineConfig;
  decode: (buf: Uint8Array) => RawSpan[];
  /** A fresh policy engine with the bench's rules (policies keep per-chain state), when BENCH_POLICIES is set. */
  policies: () => PolicyEngine | undefined;
}

const base = process.env.BENCH_BASE;
if (!base) throw new Error('BENCH_BASE: set it to the dist directory of the build to compare against (see the header of test/bench/ab.bench.ts)');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 4);

const policyText = process.env.BENCH_POLICIES ? hundredRulesText() : undefined;

async function build(dir: string): Promise<Build> {
  const engine = (await import(join(dir, 'src', 'engine.js'))) as typeof self;
  const decoder = (await import(join(dir, 'src', 'otlp-proto.js'))) as { decodeTraceRequest: typeof decodeTraceRequest };
  const { PolicyEngine: Policies } = (await import(join(dir, 'src', 'policy-engine.js'))) as { PolicyEngine: typeof PolicyEngine };
  const { loadPolicyText: load } = (await import(join(dir, 'src', 'policy-load.js'))) as { loadPolicyText: typeof loadPolicyText };
  const config = { ...engine.defaultEngineConfig, lifecycle: SHORT_LIFECYCLE };
  const filter = new engine.Engine(config).norm.filter;
  return {
    Engine: engine.Engine, config, decode: (buf) => decoder.decodeTraceRequest(buf, filter).spans,
    policies: () => (policyText === undefined ? undefined : new Policies(load('bench-policies.yaml', policyText))),
  };
}

const a = await build(base);
const b = await build(fileURLToPath(new URL('../..', import.meta.url)));

console.error('generating the fleet…');
let sim: ReturnType<typeof simulate> | undefined = simulate({ agentsPerRole: 200, historyDays: 4, liveDays: 2, chainsPerAgentDay: 6, attacksPerClass: 20 });
const history = toBatches(sim.history, 100);
const live = toBatches(sim.live, 100);
sim = undefined;

function learned(x: Build): string {
  const e = new x.Engine(x.config);
  e.mode = 'learn';
  for (const buf of history.bufs) e.ingestSpans(x.decode(buf));
  e.flush();
  return JSON.stringify(e.snapshot());
}
const snapA = learned(a);
const snapB = learned(b);

/** GC pauses as V8 reports them: start and duration, ms. */
const gcPauses: { start: number; ms: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push({ start: e.startTime, ms: e.duration });
}).observe({ entryTypes: ['gc'] });

/** GC pause time inside the steps [start, end] (ms; sorted, disjoint, as both lists are). */
function gcWithin(steps: number[], pauses: { start: number; ms: number }[]): number {
  let sum = 0;
  let p = 0;
  for (let i = 0; i < steps.length; i += 2) {
    while (p < pauses.length && pauses[p].start < steps[i]) p++;
    for (let q = p; q < pauses.length && pauses[q].start < steps[i + 1]; q++) sum += Math.min(pauses[q].ms, steps[i + 1] - pauses[q].start);
  }
  return sum;
}

const range = (xs: number[]): string => `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;

const ratios: number[] = [];
/**
 * The same without GC pauses: a scavenge stops whichever build's step it falls in, whoever made
 * the garbage, and the 10–40 ms pauses landing on one side or the other were most of the
 * round-to-round spread. Work done by the builds' own code, compared tightly; a change that makes
 * less garbage shows only in the ratio with GC.
 */
const mutatorRatios: number[] = [];
for (let r = 0; r < WARMUP + ROUNDS; r++) {
  const ea = new a.Engine(a.config, () => {});
  ea.restore(JSON.parse(snapA));
  ea.setPolicies(a.policies());
  const eb = new b.Engine(b.config, () => {});
  eb.restore(JSON.parse(snapB));
  eb.setPolicies(b.policies());
  promote();
  const stepsA: number[] = [];
  const stepsB: number[] = [];
  let ta = 0;
  let tb = 0;
  const step = (steps: number[], fn: () => void): number => {
    const t = performance.now();
    fn();
    const end = performance.now();
    steps.push(t, end);
    return end - t;
  };
  // Which build goes first alternates, so neither always meets the other's garbage.
  live.bufs.forEach((buf, i) => {
    const runA = (): number => step(stepsA, () => ea.ingestSpans(a.decode(buf)));
    const runB = (): number => step(stepsB, () => eb.ingestSpans(b.decode(buf)));
    if (i % 2) {
      ta += runA();
      tb += runB();
    } else {
      tb += runB();
      ta += runA();
    }
  });
  ta += step(stepsA, () => ea.flush());
  tb += step(stepsB, () => eb.flush());
  // The round's GC entries arrive on a later turn of the event loop (a timer's, not setImmediate's).
  await new Promise((resolve) => setTimeout(resolve, 50));
  const pauses = gcPauses.splice(0).sort((x, y) => x.start - y.start);
  const ma = ta - gcWithin(stepsA, pauses);
  const mb = tb - gcWithin(stepsB, pauses);
  const counted = r >= WARMUP;
  if (counted) {
    ratios.push(ta / tb);
    mutatorRatios.push(ma / mb);
  }
  console.log(`round ${r}${counted ? '' : ' (warm-up)'}: other ${Math.round(live.spans / ta)}k, this ${Math.round(live.spans / tb)}k spans/s; this build's speed ${(ta / tb).toFixed(3)}× the other's, ${(ma / mb).toFixed(3)}× without GC pauses`);
}
const what = `${base}${policyText ? ' (with the 100-rule policy set)' : ''}`;
console.log(`\nthis build's speed relative to ${what}: median ${median(ratios).toFixed(3)}× over ${ratios.length} rounds (range ${range(ratios)})`);
console.log(`without GC pauses: median ${median(mutatorRatios).toFixed(3)}× (range ${range(mutatorRatios)})`);
