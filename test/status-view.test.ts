/** `chainwatch status`'s text: rates from two samples, and Kafka stages that cannot reach their brokers said so. */
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type StatusDoc, formatStatus as colored } from '../src/status-view.js';

// Colors are on where the environment asks for them (CI=true does): the text is what is tested.
const formatStatus = (...args: Parameters<typeof colored>): string => stripVTControlCharacters(colored(...args));

const NOW = Date.UTC(2026, 10, 27, 12);

function doc(over: Partial<StatusDoc> = {}, spans = 0, records = 0): StatusDoc {
  return {
    ready: true, uptimeSeconds: 60, watermark: '2026-11-27T11:59:59.000Z',
    receiver: { spansAccepted: spans, spansRejected: 0, badRequests: { malformed: 2, method_not_allowed: 1 } },
    engine: { calls: spans / 4, chainsQuarantined: 0, alerts: { low: 1, high: 2 }, violations: 0, shadowViolations: 0 },
    openChains: 3, agents: { enforcing: 5, learning: 1 }, metrics: 'http://127.0.0.1:9464/metrics',
    kafka: {
      ingest: { records, lag: { total: 12, at: NOW - 5_000 }, spansRejected: 0 },
      detect: { records, lag: { total: 0, at: NOW - 5_000 }, partitions: [0, 1] },
    },
    ...over,
  };
}

describe('chainwatch status', () => {
  it('gives rates over the interval between two samples, and none from one', () => {
    const two = formatStatus('http://127.0.0.1:4318', doc({}, 1_000, 10), doc({}, 5_000, 30), 2, NOW);
    expect(two).toContain('spans/s 2000.0   calls/s 500.0   alerts/s 0.0');
    expect(two).toContain('kafka ingest: 10.0 records/s   lag 12 records');
    expect(two).toContain('kafka detect: 10.0 records/s   lag 0 records   partitions [0, 1]');
    expect(two).toContain('rejected: 0 spans, requests 3 (malformed 2, method_not_allowed 1)');
    const one = formatStatus('http://127.0.0.1:4318', doc(), doc(), 0, NOW);
    expect(one).toContain('spans/s —   calls/s —   alerts/s —');
  });

  it('says the lag is unknown when the brokers did not answer, with the last figure and its age, and shows a stage\'s last error', () => {
    const away = doc({
      kafka: {
        ingest: { records: 0, lag: { total: 12, at: NOW - 40_000, error: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092' } },
        detect: { records: 0, lag: { total: 0, at: 0, error: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092' }, partitions: [], lastErrorAt: '2026-11-27T11:59:20.000Z', lastError: 'restoring partitions: reading the ends of changelog topic calls-changelog: This server does not host this topic-partition' },
      },
    });
    const text = formatStatus('http://127.0.0.1:4318', away, away, 0, NOW);
    expect(text).toContain('kafka ingest: — records/s   lag unknown: cannot reach the brokers (Connection error: connect ECONNREFUSED 127.0.0.1:9092); 12 records 40 s ago');
    expect(text).toContain('kafka detect: — records/s   lag unknown: cannot reach the brokers (Connection error: connect ECONNREFUSED 127.0.0.1:9092)   partitions []');
    expect(text).toContain('\n    last error (2026-11-27T11:59:20.000Z): restoring partitions: reading the ends of changelog topic calls-changelog: This server does not host this topic-partition\n');
    expect(text).not.toMatch(/lag 12 records/);
  });

  it('shows each sink, a failing one with its error, and an alerts file that cannot be written', () => {
    const troubled = doc({
      sinks: { 'file out.cef': { sent: 112, queued: 0, dropped: 0 }, 'splunk_hec https://splunk:8088': { sent: 10, queued: 40, dropped: 0, lastError: 'connect ECONNREFUSED' } },
      alertsFile: { path: '.chainwatch/alerts.jsonl', written: 90, pending: 3, dropped: 0, lastError: 'ENOSPC: no space left on device' },
    });
    const text = formatStatus('u', troubled, troubled, 0, NOW);
    expect(text).toContain('  sink file out.cef: sent 112, queued 0, dropped 0\n');
    expect(text).toContain('  sink splunk_hec https://splunk:8088: sent 10, queued 40, dropped 0, failing: connect ECONNREFUSED\n');
    expect(text).toContain('  alerts file .chainwatch/alerts.jsonl: 3 alerts waiting to be written, 0 dropped (ENOSPC: no space left on device)\n');
    expect(formatStatus('u', doc(), doc(), 0, NOW)).not.toMatch(/alerts file|sink /);
  });

  it('leaves Kafka out when the instance runs without it', () => {
    expect(formatStatus('u', doc({ kafka: null }), doc({ kafka: null }), 0, NOW)).not.toContain('kafka');
  });
});
