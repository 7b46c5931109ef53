import { describe, expect, it } from 'vitest';
import { defaultDetectorSettings } from './types.js';
import { rareTransition } from './rare-transition.js';
import { Harness, T0, DAY_MS, mkCall, mkChain, routine } from '../test/helpers/detector-harness.js';

const A = 'GET tickets.corp.internal/api/tickets/{id}';
const B = 'GET kb.corp.internal/search';
const C = 'POST tickets.corp.internal/api/tickets/{id}/replies';
const X = 'GET crm.corp.internal/v1/contacts';
const seq = (t: number, sigs: string[]) => sigs.map((sig, i) => mkCall({ time: t + i * 1000, sig }));

describe('rare-transition', () => {
  it('flags a known action in an order this agent never uses', () => {
    const h = make();
    routine(h, 10, 10, (t, i) => seq(t, i % 5 === 0 ? [X, C] : [A, B, C]));
    const found = h.score(seq(T0 + 11 * DAY_MS, [A, X]), mkChain([]));
    expect(found[0]).toBeUndefined();
    expect(found[1]?.signature).toBe(`rare-transition:${A}>${X}`);
    expect(found[1]?.spanIds).toHaveLength(2);
    expect(found[1]?.reason).toMatch(/0\.0% of \d+ times before/);
  });

  it('stays quiet on the usual order and before it has support', () => {
    const h = make();
    expect(h.score(seq(T0, [A, X]), mkChain([]))[1]).toBeUndefined();
    routine(h, 10, 10, (t) => seq(t, [A, B, C]));
    expect(h.score(seq(T0 + 11 * DAY_MS, [A, B, C]), mkChain([])).every((f) => f === undefined)).toBe(true);
  });

  it('keeps transitions through snapshot and restore', () => {
    const h = make();
    routine(h, 10, 10, (t, i) => seq(t, i % 5 === 0 ? [X, C] : [A, B, C]));
    h.roundTrip();
    expect(h.score(seq(T0 + 11 * DAY_MS, [A, B, C]), mkChain([])).every((f) => f === undefined)).toBe(true);
    expect(h.score(seq(T0 + 11 * DAY_MS, [A, X]), mkChain([]))[1]).toBeDefined();
  });
});

describe('rare-transition across engines', () => {
  it('judges a chain handed to another engine, whose interner numbers actions differently, as the first would', () => {
    const N = 'GET new.corp.internal/z';
    const learn = (h: Harness<any>) => routine(h, 10, 10, (t, i) => seq(t, i % 5 === 0 ? [X, C] : [A, B, C]));
    const first = make();
    learn(first);
    const second = make();
    second.intern.id('unrelated-1');
    second.intern.id('unrelated-2'); // its ids are now two ahead: the first's id for N is the second's for A
    learn(second);
    const chain = mkChain([]);
    first.score(seq(T0 + 11 * DAY_MS, [N]), chain);
    const moved = JSON.parse(JSON.stringify(chain)) as typeof chain;
    // N was never followed by anything: no support, no finding — on either engine.
    expect(first.score(seq(T0 + 11 * DAY_MS + 5000, [X]), JSON.parse(JSON.stringify(chain)))[0]).toBeUndefined();
    expect(second.score(seq(T0 + 11 * DAY_MS + 5000, [X]), moved)[0]).toBeUndefined();
    // And a handed-over chain goes on as usual: A then X is still rare there.
    expect(second.score(seq(T0 + 11 * DAY_MS + 9000, [A, X]), moved)[1]?.signature).toBe(`rare-transition:${A}>${X}`);
  });
});

function make() {
  return new Harness(rareTransition(defaultDetectorSettings));
}
