/**
 * `npm run bench:killswitch`: time from a span's arrival at the OTLP receiver to the revocation
 * request reaching the revocation receiver (a loopback HTTP server in this process, so the
 * request has left chainwatch). Each violation is a kill-switch policy hit with its own
 * credential; the response policy revokes automatically through a signed webhook and two RS256
 * SETs. Run quiet, then again while a second client keeps sending benign traffic.
 */
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Service } from '../../src/service.js';
import { webhookKey } from '../../src/webhook-sign.js';

const N = Number(process.env.BENCH_VIOLATIONS ?? 400);
const dir = mkdtempSync(join(tmpdir(), 'chainwatch-bench-ks-'));

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

let traceN = 0;
function trace(t0: number, host: string, credential: string): object {
  traceN++;
  const traceId = traceN.toString(16).padStart(32, '0');
  const a = (o: Record<string, string | number>): object[] => Object.entries(o).map(([key, v]) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } }));
  const ns = (ms: number): string => `${Math.round(ms)}000000`;
  const root = `${traceN.toString(16).padStart(12, '0')}0001`;
  const tool = `${traceN.toString(16).padStart(12, '0')}0002`;
  const client = `${traceN.toString(16).padStart(12, '0')}0003`;
  return { resourceSpans: [{ resource: { attributes: a({ 'service.name': 'support-svc' }) }, scopeSpans: [{ spans: [
    { traceId, spanId: client, parentSpanId: tool, name: 'POST', kind: 3, startTimeUnixNano: ns(t0 + 2), endTimeUnixNano: ns(t0 + 8), attributes: a({ 'http.request.method': 'POST', 'url.full': `https://${host}/api/x`, 'server.address': host }) },
    { traceId, spanId: tool, parentSpanId: root, name: 'execute_tool upload', kind: 1, startTimeUnixNano: ns(t0 + 1), endTimeUnixNano: ns(t0 + 9), attributes: a({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'upload', 'chainwatch.credential.id': credential }) },
    { traceId, spanId: root, name: 'invoke_agent', kind: 1, startTimeUnixNano: ns(t0), endTimeUnixNano: ns(t0 + 10), attributes: a({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': `support-agent-${traceN % 50}`, 'gen_ai.agent.name': 'support-agent' }) },
  ] }] }] };
}

async function main(): Promise<void> {
  const arrivals = new Map<string, number>();
  const received = new Map<string, number>();
  const rx = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const now = performance.now();
      if (req.url === '/revoke') {
        const cred = JSON.parse(body).data.credential_id as string;
        if (!received.has(cred)) received.set(cred, now);
      }
      res.writeHead(req.url === '/revoke' ? 200 : 202).end();
    });
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  const port = (rx.address() as { port: number }).port;
  writeFileSync(join(dir, 'scope.yaml'), 'version: 1\npolicies:\n  - name: support\n    match: { name: [support-agent] }\n    kill_switch: true\n    destinations: { deny: ["paste-*"] }\n');
  const service = new Service({
    stateDir: join(dir, 'state'), receiver: { port: 0 }, policies: [join(dir, 'scope.yaml')],
    killSwitch: {
      policy: { rules: [{ name: 'kill', killSwitch: true, mode: 'auto' }], blastRadius: { max: 1_000_000, windowMs: 60_000 }, cooldownMs: 0 },
      webhook: { url: `http://127.0.0.1:${port}/revoke`, key: webhookKey(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, 'bench'), timeoutMs: 5000 },
      ssf: { endpoint: `http://127.0.0.1:${port}/ssf`, issuer: 'https://chainwatch.bench/', audience: 'https://idp.bench/', credentialType: 'agent-api-key', timeoutMs: 5000 },
      retry: { maxAttempts: 5, baseMs: 100, maxMs: 1000 },
    },
  });
  // Arrival = the moment the receiver sees the request, before the body is read.
  let current = '';
  service.receiver.app.addHook('onRequest', async () => {
    if (current !== '') arrivals.set(current, performance.now());
  });
  const url = `${await service.start()}/v1/traces`;
  const post = (doc: object): Promise<Response> => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });

  const run = async (label: string, prefix: string): Promise<void> => {
    const lat: number[] = [];
    for (let i = 0; i < N; i++) {
      const cred = `${prefix}-${i}`;
      current = cred;
      await (await post(trace(Date.now(), `paste-${prefix}-${i}.io`, cred))).arrayBuffer();
      current = '';
      const end = performance.now() + 5000;
      while (!received.has(cred) && performance.now() < end) await new Promise((r) => setImmediate(r));
      if (received.has(cred)) lat.push(received.get(cred)! - arrivals.get(cred)!);
    }
    const f = (x: number): string => x.toFixed(1);
    process.stdout.write(`| ${label} | ${lat.length}/${N} | ${f(pct(lat, 50))} | ${f(pct(lat, 90))} | ${f(pct(lat, 99))} | ${f(Math.max(...lat))} |\n`);
  };

  process.stdout.write(`span arrival → revocation webhook received (ms), ${N} violations each, one credential each; webhook + 2 RS256 SETs per revocation\n\n`);
  process.stdout.write('| load | delivered | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n');
  await run('quiet (warm-up, discarded)', 'warm').catch(() => undefined);
  await run('quiet', 'q');
  // Background: benign traffic from a second client as fast as the receiver takes it.
  let stop = false;
  let sent = 0;
  const background = (async () => {
    while (!stop) {
      const docs = Array.from({ length: 20 }, () => trace(Date.now(), 'tickets.corp.internal', 'key_benign'));
      const merged = { resourceSpans: docs.flatMap((d) => (d as { resourceSpans: unknown[] }).resourceSpans) };
      await (await post(merged)).arrayBuffer();
      sent += 60;
    }
  })();
  const t0 = performance.now();
  await run('with benign traffic', 'l');
  stop = true;
  await background;
  process.stdout.write(`\nbenign traffic during the loaded run: ${Math.round(sent / ((performance.now() - t0) / 1000))} spans/s\n`);
  await service.stop();
  rx.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
