/**
 * A receiver that listens beyond loopback requires a bearer token: the real OpenTelemetry JS
 * exporter with the token in its headers gets its spans in; without it, or with a wrong one, it
 * is answered 401 and nothing is taken — nobody who merely reaches the port teaches the baselines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { KeyFilter, defaultMapping } from '../src/attribute-map.js';
import { OtlpReceiver, defaultReceiverConfig } from '../src/receiver.js';
import type { RawSpan } from '../src/span.js';
import { exportOneSpan } from './helpers/export.js';

const Status = protobuf.loadSync(fileURLToPath(new URL('../schemas/otlp/trace.proto', import.meta.url))).lookupType('opentelemetry.proto.collector.trace.v1.RpcStatus');
const received: RawSpan[] = [];
const receiver = new OtlpReceiver(KeyFilter.forMapping(defaultMapping), { consume: (spans) => received.push(...spans), eventTime: () => 0 }, {
  ...defaultReceiverConfig, port: 0, tokens: ['new-token-7f3a', 'old-token-19c2'],
});
let url = '';
// What a running instance reports (the parts `chainwatch status` prints).
receiver.status = () => ({
  ready: true, uptimeSeconds: 42, receiver: { spansAccepted: 7, spansRejected: 0, badRequests: {} },
  engine: { calls: 3, chainsQuarantined: 0, alerts: { high: 1 }, violations: 0, shadowViolations: 0 }, openChains: 1, agents: { enforcing: 2, learning: 0 },
  sinks: { 'webhook soc.example': { sent: 1, queued: 0, dropped: 0 } },
});
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const tsx = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
/** `chainwatch status` against the receiver, one sample: its exit code and output (without colours, which CI=true turns on). */
async function status(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', tsx, cli, 'status', '--url', url.replace('/v1/traces', ''), '--interval', '0', ...args], { timeout: 20_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  url = `${await receiver.listen()}/v1/traces`;
});
afterAll(() => receiver.close());

/** One span sent through the real SDK exporter with these headers; the error the exporter reports, if any. */
const sendSpan = (headers: Record<string, string>): Promise<Error | undefined> => exportOneSpan(new OTLPTraceExporter({ url, headers }));

describe('receiver bearer token', () => {
  it('takes spans from an exporter that sends a current token, either of two during a rotation', async () => {
    expect(await sendSpan({ Authorization: 'Bearer new-token-7f3a' })).toBeUndefined();
    expect(await sendSpan({ authorization: 'bearer old-token-19c2' })).toBeUndefined();
    expect(received.map((s) => s.name)).toEqual(['execute_tool search', 'execute_tool search']);
  });

  it('answers 401 with a challenge and an UNAUTHENTICATED status, never echoing what was sent, and takes nothing', async () => {
    const before = received.length;
    expect((await sendSpan({}))?.message).toBe('Unauthorized');
    expect((await sendSpan({ Authorization: 'Bearer guessed-token' }))?.message).toBe('Unauthorized');
    expect(received.length).toBe(before);
    expect(receiver.counters.badRequests.unauthorized).toBe(2);
    for (const authorization of [undefined, 'Bearer guessed-token', 'Basic bmV3LXRva2VuLTdmM2E=', 'Bearer new-token-7f3a extra']) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', ...(authorization ? { authorization } : {}) }, body: new Uint8Array(0) });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="chainwatch"');
      const status = Status.toObject(Status.decode(Buffer.from(await res.arrayBuffer()))) as { code: number; message: string };
      expect(status.code).toBe(16);
      expect(status.message).toMatch(/^missing or wrong bearer token: send Authorization: Bearer <token>/);
      expect(status.message).not.toContain('guessed');
    }
    // The probes stay open: a kubelet sends no token.
    expect((await fetch(url.replace('/v1/traces', '/readyz'))).status).not.toBe(401);
  });

  it('asks for the token on /status too (sinks, their errors, agents are for operators), and chainwatch status sends it', async () => {
    const statusUrl = url.replace('/v1/traces', '/status');
    const denied = await fetch(statusUrl);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer realm="chainwatch"');
    expect(JSON.stringify(await denied.json())).not.toContain('soc.example');
    expect((await fetch(statusUrl, { headers: { authorization: 'Bearer old-token-19c2' } })).status).toBe(200);
    expect((await fetch(url.replace('/v1/traces', '/healthz'))).status).toBe(200);

    const without = await status([]);
    expect(without.code).not.toBe(0);
    expect(without.stderr).toContain('/status answered 401: this instance requires a receiver token: pass --token-env NAME');
    const wrong = await status(['--token-env', 'CW_STATUS_TOKEN'], { CW_STATUS_TOKEN: 'guessed-token' });
    expect(wrong.stderr).toContain('the token in CW_STATUS_TOKEN is not one this instance takes');
    // A rotation's pair in one variable, as receiver.token_env holds it: the first is sent.
    const ok = await status(['--token-env', 'CW_STATUS_TOKEN'], { CW_STATUS_TOKEN: 'new-token-7f3a,old-token-19c2' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('ready, up 42 s');
    expect(ok.stdout).toContain('sink webhook soc.example: sent 1');
  });
});
