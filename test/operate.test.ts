/**
 * chainwatch serve as operators run it: a child process with a config file. Metrics are scraped
 * from the Prometheus endpoint while spans flow; SIGTERM in the middle of a load drains, flushes
 * alerts to the file and the embedded store, writes the snapshot, and the process exits 0.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentTrace } from './helpers/spans.js';
import { serve } from './helpers/serve.js';
import { StateStore } from '../src/state-store.js';
import { metricValue } from './helpers/metrics.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-operate-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

writeFileSync(join(dir, 'scope.yaml'), 'version: 1\npolicies:\n  - name: support\n    match: { name: [support-agent] }\n    destinations: { deny: ["paste-*"] }\n');
writeFileSync(join(dir, 'chainwatch.yaml'), `state_dir: ${join(dir, 'state')}
policies: [${join(dir, 'scope.yaml')}]
receiver: { host: 127.0.0.1, port: 0 }
telemetry:
  prometheus: { enabled: true, host: 127.0.0.1, port: 0 }
shutdown: { deadline: 5s }
api: { host: 127.0.0.1, port: 0 }
`);

/** Start serve; resolve with the receiver and metrics URLs from its startup log line. */
function start(): Promise<{ proc: ChildProcess; url: string; metrics: string; stderr: () => string }> {
  return serve(join(dir, 'chainwatch.yaml'), dir, process.env, children) as Promise<{ proc: ChildProcess; url: string; metrics: string; stderr: () => string }>;
}

let t0 = Date.UTC(2026, 5, 1, 10);
const post = (url: string, host: string) => {
  t0 += 1000;
  const tr = agentTrace({ t0, agentId: 'support-agent-02', tools: [{ tool: 'upload', method: 'POST', url: `https://${host}/x` }] });
  return fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(tr.doc) });
};

describe('chainwatch serve, operated', () => {
  it('serves health, readiness and metrics that move with the traffic', async () => {
    const { proc, url, metrics } = await start();
    expect(metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready' });

    const before = await (await fetch(metrics)).text();
    expect(metricValue(before, 'chainwatch_spans_received')).toBe(0);
    for (let i = 0; i < 5; i++) expect((await post(url, 'tickets.corp.internal')).status).toBe(200);
    expect((await post(url, 'paste-drop.io')).status).toBe(200);
    expect((await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: 'junk' })).status).toBe(400);
    const after = await (await fetch(metrics)).text();
    expect(metricValue(after, 'chainwatch_spans_received')).toBe(18);
    expect(metricValue(after, 'chainwatch_calls_normalized')).toBe(6);
    expect(metricValue(after, 'chainwatch_requests_rejected', 'reason="malformed"')).toBe(1);
    expect(metricValue(after, 'chainwatch_policy_violations', 'mode="enforce"')).toBe(1);
    expect(metricValue(after, 'chainwatch_alerts', 'severity="critical"')).toBe(1);
    expect(metricValue(after, 'chainwatch_agents')).toBe(1);
    expect(metricValue(after, 'chainwatch_detector_seconds', 'detector="new-destination"')).toBeGreaterThanOrEqual(0);

    const status = await (await fetch(`${url}/status`)).json();
    expect(status).toMatchObject({ ready: true, receiver: { spansAccepted: 18 }, agents: { learning: 1 } });
    proc.kill('SIGTERM');
    await new Promise((r) => proc.on('exit', r));
    expect(proc.exitCode).toBe(0);
  }, 40_000);

  it('on SIGTERM mid-load drains, flushes alerts and snapshots, then exits 0', async () => {
    rmSync(join(dir, 'state'), { recursive: true, force: true });
    const { proc, url, stderr } = await start();
    const inflight: Promise<{ host: string; ok: boolean }>[] = [];
    // SIGTERM once some requests are answered (one naming a paste-* host among them) and the rest
    // are still in flight; a fixed delay raced the child's first answers on a loaded machine.
    let answered = 0;
    let pasteAnswered = false;
    let midLoad!: () => void;
    const reached = new Promise<void>((r) => (midLoad = r));
    for (let i = 0; i < 200; i++) {
      const host = i % 20 === 0 ? `paste-${i}.io` : 'tickets.corp.internal';
      inflight.push(post(url, host).then((r) => {
        answered++;
        if (r.status === 200 && host.startsWith('paste-')) pasteAnswered = true;
        if (answered >= 20 && pasteAnswered) midLoad();
        return { host, ok: r.status === 200 };
      }, () => ({ host, ok: false })));
    }
    await reached;
    proc.kill('SIGTERM');
    const code = await new Promise((r) => proc.on('exit', r));
    const sent = await Promise.all(inflight);
    expect(code).toBe(0);
    expect(stderr()).toMatch(/shutting down: draining/);
    const state = new StateStore(join(dir, 'state'));
    const saved = state.latest()!;
    expect(saved.legacy).toBe(false);
    expect(saved.snapshot.agents.map((a) => a.id)).toContain('support-agent-02');
    expect(existsSync(join(dir, 'state', 'alerts.jsonl'))).toBe(true);
    const alerts = readFileSync(join(dir, 'state', 'alerts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // Every request answered 200 that named a paste-* host has its alert in the flushed file.
    const acceptedPaste = sent.filter((s) => s.ok && s.host.startsWith('paste-')).map((s) => s.host).sort();
    const alerted = [...new Set(alerts.filter((a) => a.call?.host?.startsWith('paste-')).map((a) => a.call.host as string))].sort();
    expect(acceptedPaste.length).toBeGreaterThan(0);
    expect(alerted).toEqual(acceptedPaste);
    // The embedded store holds the same alerts as the file (rollup updates share an id).
    const stored = (state.db.prepare('SELECT id FROM alerts ORDER BY id').all() as { id: string }[]).map((r) => r.id);
    expect(stored).toEqual([...new Set(alerts.map((a) => a.id as string))].sort());
    state.close();
    const accepted = JSON.parse(stderr().split('\n').find((l) => l.includes('"stopped"'))!).receiver.spansAccepted as number;
    expect(accepted).toBe(3 * sent.filter((s) => s.ok).length);
  }, 40_000);
  it('keeps serving when the reader of its stdout goes away: alerts still reach the file, said once on stderr', async () => {
    rmSync(join(dir, 'state'), { recursive: true, force: true });
    const { proc, url, stderr } = await start();
    proc.stdout!.destroy(); // as `chainwatch serve | head -1` has it once head exits
    for (const host of ['paste-a.io', 'paste-b.io', 'paste-c.io']) expect((await post(url, host)).status).toBe(200);
    const alerted = (): string[] => {
      const file = join(dir, 'state', 'alerts.jsonl');
      return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).call?.host as string) : [];
    };
    for (let i = 0; i < 100 && alerted().length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    expect(alerted().sort()).toEqual(['paste-a.io', 'paste-b.io', 'paste-c.io']);
    expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready' });
    expect(stderr().match(/stdout was closed by its reader/g)).toHaveLength(1);
    proc.kill('SIGTERM');
    expect(await new Promise((r) => proc.on('exit', r))).toBe(0);
  }, 40_000);
});
