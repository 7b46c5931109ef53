/**
 * A busy service closes the rollup windows of agents that went quiet: their update, with the
 * count of repeats, is sent while other agents keep the input going — not only when the whole
 * input idles or the service stops.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../src/alerts.js';
import { Service } from '../src/service.js';
import { postLookup } from './helpers/spans.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-rollup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('service rollups', () => {
  it('sends a quiet agent\'s rollup update while other agents keep the input busy', async () => {
    const alerts: Alert[] = [];
    const service = new Service({ stateDir: dir, receiver: { port: 0 }, onAlert: (a) => alerts.push(a) });
    const url = `${await service.start()}/v1/traces`;
    const post = async (agentId: string, t0: number): Promise<void> => {
      expect(await postLookup(url, agentId, t0)).toBe(200);
    };
    try {
      let t = Date.UTC(2026, 5, 1, 10);
      await post('owner-agent', t); // first to use the key: owns it
      await post('borrower-agent', (t += 60_000));
      await post('borrower-agent', (t += 60_000)); // a repeat, counted in the open window
      const borrowed = (): Alert[] => alerts.filter((a) => a.agent.id === 'borrower-agent');
      expect(borrowed().map((a) => [a.count, a.update ?? false])).toEqual([[1, false]]);
      // The owner alone goes on, ten minutes of event time per request, never idle for the tick's 500 ms.
      const end = Date.now() + 10_000;
      while (borrowed().length < 2 && Date.now() < end) {
        await post('owner-agent', (t += 600_000));
        await new Promise((r) => setTimeout(r, 50));
      }
      const [, update] = borrowed();
      expect(update).toMatchObject({ update: true, count: 2 });
      // Closed only once the owner's time passed the window's end (an hour) by a chain's idle timeout (5 min).
      expect(Date.parse(update.lastSeen)).toBeLessThan(t - 3_600_000);
    } finally {
      await service.stop();
    }
  }, 30_000);
});
