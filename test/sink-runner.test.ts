/**
 * A sink's queue and delivery loop, with a transport that records what it is given: alerts
 * offered at any time reach it — after the loop has ticked idle too — and failures are retried,
 * then dropped and counted.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/alerts.js';
import { SinkRunner, type SinkTransport } from '../src/sinks.js';
import { until } from './helpers/until.js';

class Recording implements SinkTransport {
  readonly name = 'recording';
  readonly batches: string[][] = [];
  failures = 0;
  async send(alerts: Alert[]): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('receiver down');
    }
    this.batches.push(alerts.map((a) => a.id));
  }
  async close(): Promise<void> {}
}

const alert = (id: string): Alert => ({ id }) as Alert;
const options = { maxQueue: 5, batch: 2, flushMs: 10, maxAttempts: 3, backoffMs: 1 };
const idle = (ticks: number): Promise<void> => new Promise((r) => setTimeout(r, options.flushMs * ticks));

describe('sink runner', () => {
  it('delivers alerts offered after its loop has ticked with nothing to send', async () => {
    const t = new Recording();
    const runner = new SinkRunner(t, options);
    try {
      await idle(5); // the service's case: the loop ticks idle long before the first alert
      runner.offer(alert('a'));
      await until(() => t.batches.length === 1, 5_000);
      await idle(3);
      runner.offer(alert('b'));
      await until(() => t.batches.length === 2, 5_000);
      expect(t.batches).toEqual([['a'], ['b']]);
      expect(runner.counters).toMatchObject({ sent: 2, dropped: 0, queued: 0 });
    } finally {
      await runner.close();
    }
  });

  it('sends what is still queued when closed, in batches, after idle ticks too', async () => {
    const t = new Recording();
    const runner = new SinkRunner(t, options);
    await idle(3);
    for (const id of ['a', 'b', 'c']) runner.offer(alert(id));
    await runner.close();
    expect(t.batches.flat()).toEqual(['a', 'b', 'c']);
    expect(runner.counters).toMatchObject({ sent: 3, queued: 0 });
  });

  it('retries a failed batch, and drops and counts one that fails every attempt, saying so each way', async () => {
    const t = new Recording();
    const runner = new SinkRunner(t, options);
    const told: string[] = [];
    runner.onTrouble = (err, dropped) => told.push(dropped !== undefined ? `dropped ${dropped}: ${err}` : err ?? 'delivering');
    try {
      t.failures = 2;
      runner.offer(alert('a'));
      await until(() => t.batches.length === 1, 5_000);
      expect(runner.counters).toMatchObject({ sent: 1, failedAttempts: 2, dropped: 0 });
      expect(told).toEqual(['receiver down', 'delivering']); // once when it fails, once when it works again
      t.failures = 3;
      runner.offer(alert('b'));
      await until(() => runner.counters.dropped === 1, 5_000);
      expect(runner.counters).toMatchObject({ sent: 1, failedAttempts: 5, lastError: 'receiver down' });
      expect(told).toEqual(['receiver down', 'delivering', 'receiver down', 'dropped 1: receiver down']);
    } finally {
      await runner.close();
    }
  });

  it('keeps the newest alerts when its queue overflows, counting the ones it lost', async () => {
    const t = new Recording();
    t.failures = Number.POSITIVE_INFINITY;
    const runner = new SinkRunner(t, { ...options, flushMs: 60_000, batch: 100 });
    for (let i = 0; i < 8; i++) runner.offer(alert(String(i)));
    expect(runner.counters).toMatchObject({ dropped: 3, queued: 5 });
    t.failures = 0;
    await runner.close();
    expect(t.batches.flat()).toEqual(['3', '4', '5', '6', '7']);
  });
});
