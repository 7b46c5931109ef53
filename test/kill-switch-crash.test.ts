/**
 * `chainwatch serve` killed (SIGKILL) after a revocation request left but before the receiver
 * acknowledged it: after restart the retry is the same message — same webhook-id and
 * idempotency key, same body — and it is delivered; nothing is lost, nothing is doubled.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { listRevocations } from '../src/revocations.js';
import { openDatabase } from '../src/sqlite-db.js';
import { agentTrace } from './helpers/spans.js';
import { type Served, serve } from './helpers/serve.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-crash-'));
const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const start = (): Promise<Served> => serve(join(dir, 'chainwatch.yaml'), dir, { ...process.env, KS_WEBHOOK_SECRET: SECRET }, children);

describe('kill-switch across a crash', () => {
  it('resends the same message after SIGKILL between send and acknowledgement', async () => {
    const got: { headers: Record<string, string>; body: string }[] = [];
    let hang = true;
    const held: ServerResponse[] = [];
    const rx = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push({ headers: req.headers as Record<string, string>, body });
        if (hang) held.push(res); // never answered: the sender cannot know it arrived
        else res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const port = (rx.address() as { port: number }).port;
    writeFileSync(join(dir, 'scope.yaml'), 'version: 1\npolicies:\n  - name: support\n    match: { name: [support-agent] }\n    kill_switch: true\n    destinations: { deny: ["paste-*"] }\n');
    writeFileSync(join(dir, 'chainwatch.yaml'), `state_dir: ${join(dir, 'state')}
policies: [${join(dir, 'scope.yaml')}]
receiver: { host: 127.0.0.1, port: 0 }
api: { enabled: false }
telemetry: { prometheus: { enabled: false } }
response:
  rules: [{ name: scope-kill, kill_switch: true, mode: auto }]
  webhook: { url: "http://127.0.0.1:${port}/revoke", secret_env: KS_WEBHOOK_SECRET, timeout: 60s }
  retry: { base: 100ms, max: 1s }
`);
    const first = await start();
    const tr = agentTrace({ t0: Date.UTC(2026, 5, 1, 10), agentId: 'support-agent-03', tools: [{ tool: 'upload', method: 'POST', url: 'https://paste-x.io/p', credential: 'key_crash' }] });
    expect((await fetch(`${first.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(tr.doc) })).status).toBe(200);
    const end = Date.now() + 15_000;
    while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(got).toHaveLength(1);
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));
    for (const res of held) res.destroy();

    const db = openDatabase(join(dir, 'state'));
    expect(listRevocations(db)[0]).toMatchObject({ credential: 'key_crash', status: 'pending', deliveries: [{ status: 'sending', attempts: 1 }] });
    db.close();

    hang = false;
    const second = await start();
    const end2 = Date.now() + 15_000;
    while (got.length < 2 && Date.now() < end2) await new Promise((r) => setTimeout(r, 20));
    second.proc.kill('SIGTERM');
    await new Promise((r) => second.proc.once('exit', r));
    rx.close();

    expect(got).toHaveLength(2);
    expect(got[1].headers['webhook-id']).toBe(got[0].headers['webhook-id']);
    expect(got[1].headers['idempotency-key']).toBe(got[0].headers['idempotency-key']);
    expect(got[1].body).toBe(got[0].body);
    expect((new Webhook(SECRET).verify(got[1].body, got[1].headers) as any).data.credential_id).toBe('key_crash');
    const after = openDatabase(join(dir, 'state'));
    expect(listRevocations(after)[0]).toMatchObject({ status: 'delivered', deliveries: [{ status: 'delivered', attempts: 2 }] });
    after.close();
  }, 60_000);
});
