import { setImmediate as yieldToLoop } from 'node:timers/promises';

/**
 * Run work given as a generator of steps (Engine.compactSteps) to its end, letting the event loop
 * run between steps — requests, fetches and timers go on meanwhile — and return its result.
 */
export async function runInSteps<T>(steps: Generator<void, T, void>): Promise<T> {
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done === true) return r.value;
    await yieldToLoop();
  }
}
