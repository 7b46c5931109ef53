import { describe, expect, it } from 'vitest';
import { defaultDetectorSettings } from './types.js';
import { unusualPrincipal } from './unusual-principal.js';
import { Harness, T0, DAY_MS, mkCall, routine } from '../test/helpers/detector-harness.js';

describe('unusual-principal', () => {
  it('flags acting on behalf of a principal the agent never served', () => {
    const h = new Harness(unusualPrincipal(defaultDetectorSettings));
    routine(h, 10, 10, (t, i) => [mkCall({ time: t, principal: `alice${i % 3}@corp.example` })]);
    expect(h.score([mkCall({ time: T0 + 11 * DAY_MS, principal: 'alice1@corp.example' })])[0]).toBeUndefined();
    const [f] = h.score([mkCall({ time: T0 + 11 * DAY_MS, principal: 'mallory@other.example' })]);
    expect(f?.reason).toMatch(/has acted for 3 principals before, never mallory@other\.example/);
  });

  it('stays quiet for agents that serve a new principal every time', () => {
    const h = new Harness(unusualPrincipal(defaultDetectorSettings));
    let n = 0;
    routine(h, 10, 10, (t) => [mkCall({ time: t, principal: `user${n++}@public.example` })]);
    expect(h.score([mkCall({ time: T0 + 11 * DAY_MS, principal: 'new@public.example' })])[0]).toBeUndefined();
  });
});
