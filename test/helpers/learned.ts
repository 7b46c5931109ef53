/** A state directory holding the baselines learned from `history`, as `chainwatch learn` leaves it. */
import { Engine } from '../../src/engine.js';
import { decodeTraceRequestJson } from '../../src/otlp-json.js';
import { StateStore } from '../../src/state-store.js';

export function learnInto(dir: string, history: object[]): Engine {
  const learner = new Engine();
  learner.mode = 'learn';
  for (const doc of history) learner.ingestSpans(decodeTraceRequestJson(doc, learner.norm.filter).spans);
  learner.flush();
  const store = new StateStore(dir);
  store.save(learner);
  store.close();
  return learner;
}
