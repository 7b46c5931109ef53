import { describe, expect, it } from 'vitest';
import { bulkAccess } from './bulk-access.js';
import { Harness, T0, DAY_MS, mkCall, mkChain, routine } from '../test/helpers/detector-harness.js';

describe('bulk-access', () => {
  it('flags a chain touching many more distinct resources than normal, once', () => {
    const h = new Harness(bulkAccess());
    routine(h, 10, 10, (t, i) => [1, 2, 3].map((k) => mkCall({ time: t + k, resource: `crm/customers/${i * 10 + k}` })));
    const found = h.score(Array.from({ length: 100 }, (_, k) => mkCall({ time: T0 + 11 * DAY_MS + k, resource: `crm/customers/${k}` })), mkChain([]));
    const fired = found.filter((f) => f !== undefined);
    expect(fired).toHaveLength(1);
    expect(fired[0]?.reason).toMatch(/touched 26 distinct resources; its largest normal chain touched ~3/);
  });

  it('does not count the same resource twice', () => {
    const h = new Harness(bulkAccess());
    routine(h, 10, 10, (t) => [mkCall({ time: t, resource: 'r/1' })]);
    expect(h.score(Array.from({ length: 100 }, (_, k) => mkCall({ time: T0 + 11 * DAY_MS + k, resource: 'r/1' })), mkChain([])).every((f) => f === undefined)).toBe(true);
  });
});
