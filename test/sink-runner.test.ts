/**
 * A sink's queue and delivery loop, with a transport that records what it is given: alerts
 * offered at any time reach it — after the loop has ticked idle too; a sink that is down keeps
 * them and retries until it answers; only overflow and what is left at close are dropped, counted.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/alerts.js';
import { SinkRunner, type SinkTransport, type SinkTrouble, troubleLog } from '../src/sinks.js';
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
const options = { maxQueue: 5, batch: 2, flushMs: 10, maxAttempts: 3, backoffMs: 1, maxBackoffMs: 20 };
const said = (e: SinkTrouble): string => (e.kind === 'recovered' ? 'recovered' : e.kind === 'gave-up' ? `gave up ${e.dropped}: ${e.err}` : `${e.kind}: ${e.err}`);
/** A runner over a recording transport that fails its first `failures` sends, and what the runner told of its trouble. */
function failingSink(failures: number, over: Partial<typeof options> = {}): { t: Recording; runner: SinkRunner; told: string[] } {
  const t = new Recording();
  t.failures = failures;
  const runner = new SinkRunner(t, { ...options, ...over });
  const told: string[] = [];
  runner.onTrouble = (e) => told.push(said(e));
  return { t, runner, told };
}
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

  it('keeps retrying a failed batch until the sink answers, losing nothing, and says so each way', async () => {
    const { t, runner, told } = failingSink(40); // a receiver down for a while: many tries
    try {
      runner.offer(alert('a'));
      runner.offer(alert('b'));
      await until(() => t.batches.length === 1, 10_000);
      expect(t.batches).toEqual([['a', 'b']]);
      expect(runner.counters).toMatchObject({ sent: 2, failedAttempts: 40, dropped: 0, queued: 0 });
      expect(told).toEqual(['failing: receiver down', 'recovered']); // once when it fails, once when it works again
    } finally {
      await runner.close();
    }
  });

  it('gives up what is left after its last tries when it closes down, counting it', async () => {
    const { runner, told } = failingSink(Number.POSITIVE_INFINITY, { batch: 100 });
    runner.offer(alert('a'));
    runner.offer(alert('b'));
    await until(() => runner.counters.failedAttempts >= 5, 5_000); // failing before the close too
    const before = runner.counters.failedAttempts;
    await runner.close();
    // Its last tries are its own (maxAttempts of them), not cut short by the failures before.
    expect(runner.counters.failedAttempts - before).toBe(options.maxAttempts);
    expect(runner.counters).toMatchObject({ sent: 0, dropped: 2, queued: 0 });
    expect(told).toEqual(['failing: receiver down', 'gave up 2: receiver down']);
  });

  it('keeps the newest alerts when its queue overflows, never the batch in flight, counting the ones it lost', async () => {
    const { t, runner, told } = failingSink(Number.POSITIVE_INFINITY, { flushMs: 60_000 });
    for (let i = 0; i < 8; i++) runner.offer(alert(String(i)));
    // '0' and '1' went out as a batch when the second came (and failed): they stay, the oldest after them go.
    expect(runner.counters).toMatchObject({ dropped: 3, queued: 5 });
    expect(told).toEqual(['overflow: the sink is slower than the alerts come']); // said once, not per alert
    t.failures = 0;
    await until(() => runner.counters.queued === 0, 5_000);
    await runner.close();
    expect(t.batches.flat()).toEqual(['0', '1', '5', '6', '7']);
  });
});

describe('the log line of a sink in trouble', () => {
  const troubles: SinkTrouble[] = [
    { kind: 'failing', err: 'ECONNREFUSED' },
    { kind: 'recovered' },
    { kind: 'overflow', err: 'ECONNREFUSED', queued: 10_000 },
    { kind: 'gave-up', err: 'ECONNREFUSED', dropped: 3 },
    { kind: 'smaller-batches', err: 'HTTP 413', refused: 500, batch: 250 },
    { kind: 'too-large', err: 'HTTP 413', alert: 'a1' },
    { kind: 'refused', err: 'mapping conflict', alerts: ['a1', 'a2'] },
  ];

  it('names the sink and the error, and is an error exactly when alerts are lost', () => {
    for (const e of troubles) {
      const { level, fields, message } = troubleLog('siem', e);
      expect(message.startsWith('sink siem: ')).toBe(true);
      expect(fields.sink).toBe('siem');
      if ('err' in e) expect([message.includes(e.err), fields.err]).toEqual([true, e.err]);
      const loses = e.kind === 'overflow' || e.kind === 'gave-up' || e.kind === 'too-large' || e.kind === 'refused';
      expect([e.kind, level === 'error']).toEqual([e.kind, loses]);
      expect([e.kind, /dropped|undelivered/.test(message)]).toEqual([e.kind, loses]);
    }
  });

  it('says what becomes of the alerts', () => {
    expect(troubleLog('siem', troubles[0]).message).toContain('retrying (alerts wait in its queue)');
    expect(troubleLog('siem', troubles[2]).message).toContain('10000 alerts wait, the most it keeps: the oldest are dropped');
    expect(troubleLog('siem', troubles[3]).message).toContain('3 alerts undelivered at shutdown');
    expect(troubleLog('siem', troubles[4]).message).toContain('at most 250 a batch from now on');
    expect(troubleLog('siem', troubles[6])).toMatchObject({ fields: { alerts: ['a1', 'a2'] }, message: expect.stringContaining('refused 2 alerts for good') });
  });
});
