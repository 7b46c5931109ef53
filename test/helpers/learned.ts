/** Baselines learned from `history` (treated as normal), as `chainwatch learn` builds them. */
import { Engine, type LifecycleConfig } from '../../src/engine.js';
import { decodeTraceRequestJson } from '../../src/otlp-json.js';
import { StateStore } from '../../src/state-store.js';

/**
 * The lifecycle of the benches' and fleet tests' engines: every agent enforcing after the
 * simulator's short learned history (50 calls, no minimum time), so that every detector runs on
 * every call.
 */
export const SHORT_LIFECYCLE: LifecycleConfig = { minCalls: 50, minHistoryMs: 0, minPeers: 3 };

export function learnedEngine(history: object[]): Engine {
  const learner = new Engine();
  learner.mode = 'learn';
  for (const doc of history) learner.ingestSpans(decodeTraceRequestJson(doc, learner.norm.filter).spans);
  learner.flush();
  return learner;
}

/** A state directory holding them, as `chainwatch learn` leaves it. */
export function learnInto(dir: string, history: object[]): Engine {
  const learner = learnedEngine(history);
  const store = new StateStore(dir);
  store.save(learner);
  store.close();
  return learner;
}
