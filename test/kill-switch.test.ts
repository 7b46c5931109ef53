/**
 * The kill-switch end to end in the running service: a kill-switch policy violation revokes the
 * credential through a Standard Webhooks-signed webhook (verified by the independent
 * `standardwebhooks` package) and CAEP SETs pushed per RFC 8935 (verified with jose against the
 * JWK set the service publishes); a receiver that is down for a while gets every revocation once,
 * in order per credential; approval, undo, dead-lettering; a revoked credential seen again raises
 * "revocation not enforced".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Webhook } from 'standardwebhooks';
import type { Alert } from '../src/alerts.js';
import type { KillSwitchConfig } from '../src/kill-switch.js';
import { retryAfterMs } from '../src/retry-after.js';
import { ResponseDecider } from '../src/response-policy.js';
import { approveRevocation, listRevocations, undoRevocation } from '../src/revocations.js';
import { Service } from '../src/service.js';
import { webhookKey } from '../src/webhook-sign.js';
import { openDatabase } from '../src/sqlite-db.js';
import { agentTrace } from './helpers/spans.js';
import { until } from './helpers/until.js';
import { metricValue } from './helpers/metrics.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-killswitch-'));
const SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
writeFileSync(join(dir, 'scope.yaml'), 'version: 1\npolicies:\n  - name: support\n    match: { name: [support-agent] }\n    kill_switch: true\n    destinations: { deny: ["paste-*"] }\n');

/** A request the receiver took; `status` 0 while it holds it. */
interface Received { path: string; headers: Record<string, string>; body: string; status: number; at: number }

/** A webhook/SSF receiver whose answer the test controls. */
/** How the receiver answers: a status (and Retry-After); with `gate`, it holds each request until the gate opens. */
interface Answer { status: number; retryAfter?: string; gate?: Promise<void> }

async function receiver(): Promise<{ url: string; got: Received[]; answer: Answer; close(): void }> {
  const got: Received[] = [];
  const answer: Answer = { status: 200 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const entry: Received = { path: req.url ?? '', headers: req.headers as Record<string, string>, body, status: 0, at: Date.now() };
      got.push(entry);
      void (answer.gate ?? Promise.resolve()).then(() => {
        entry.status = answer.status === 200 && req.url?.startsWith('/ssf') ? 202 : answer.status;
        res.writeHead(entry.status, answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter }).end();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, got, answer, close: () => server.close() };
}

function killSwitch(url: string, over: Partial<KillSwitchConfig> = {}): KillSwitchConfig {
  return {
    policy: { rules: [{ name: 'scope-kill', killSwitch: true, mode: 'auto' }], blastRadius: { max: 100, windowMs: 600_000 }, cooldownMs: 0 },
    webhook: { url: `${url}/revoke`, key: webhookKey(SECRET, 'test'), timeoutMs: 2000 },
    ssf: { endpoint: `${url}/ssf/events`, issuer: 'https://chainwatch.test/', audience: 'https://idp.test/ssf', authorization: 'Bearer ssf-push-token', credentialType: 'agent-api-key', timeoutMs: 2000 },
    retry: { maxAttempts: 50, baseMs: 40, maxMs: 300 },
    linkTemplate: 'https://traces.test/{traceId}',
    ...over,
  };
}

let n = 0;
/** Violations a minute apart from an hour ago: a revoked credential's reuse is sent later, at the clock's time, and event time must not leave the others a week behind (engine.chains.max_span_age). */
const BASE = Date.now() - 3_600_000;

async function violate(ingest: string, credential: string, t0 = BASE + n * 60_000): Promise<string> {
  n++;
  const tr = agentTrace({ t0, agentId: 'support-agent-01', tools: [{ tool: 'upload', method: 'POST', url: `https://paste-${n}.io/api/pastes`, credential }] });
  const res = await fetch(ingest, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(tr.doc) });
  expect(res.status).toBe(200);
  return tr.traceId;
}


describe('Retry-After', () => {
  it('reads delay-seconds and HTTP dates, and nothing else', () => {
    const now = Date.UTC(2026, 10, 28, 12, 0, 0);
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs(' 5 ', now)).toBe(5_000);
    expect(retryAfterMs('Sat, 28 Nov 2026 12:01:30 GMT', now)).toBe(90_000);
    expect(retryAfterMs('Sat, 28 Nov 2026 11:00:00 GMT', now)).toBe(0); // past: now
    expect([retryAfterMs(null, now), retryAfterMs('soon', now), retryAfterMs('-5', now)]).toEqual([undefined, undefined, undefined]);
  });
});

describe('response policy', () => {
  const a = (over: Partial<Alert>): Alert => ({ id: 'x', severity: 'critical', detectors: ['policy'], credential: 'k1', agent: { id: 'a1', group: 'support-agent', phase: 'enforcing' }, title: 't', killSwitch: true, ...over }) as Alert;
  it('takes the first matching rule, brakes automatic revocations at the blast-radius cap, and cools down per credential', () => {
    const d = new ResponseDecider({
      rules: [{ name: 'shadow', agents: ['test-*'], mode: 'dry-run' }, { name: 'review', detectors: ['credential-misuse'], mode: 'approve' }, { name: 'kill', minSeverity: 'high', killSwitch: true, mode: 'auto' }],
      blastRadius: { max: 2, windowMs: 60_000 }, cooldownMs: 30_000,
    });
    expect(d.decide(a({ agent: { id: 'test-1', group: 'g', phase: 'enforcing' } }), 0, undefined)?.mode).toBe('dry-run');
    expect(d.decide(a({ detectors: ['credential-misuse'] }), 0, undefined)?.mode).toBe('approve');
    expect(d.decide(a({ severity: 'medium' }), 0, undefined)).toBeUndefined();
    expect(d.decide(a({ credential: undefined }), 0, undefined)).toBeUndefined();
    expect(d.decide(a({ credential: 'k1' }), 1_000, undefined)?.mode).toBe('auto');
    expect(d.decide(a({ credential: 'k2' }), 2_000, 1_000)).toBeUndefined();
    expect(d.decide(a({ credential: 'k2' }), 2_000, undefined)?.mode).toBe('auto');
    const capped = d.decide(a({ credential: 'k3' }), 3_000, undefined);
    expect(capped).toMatchObject({ mode: 'approve', reason: expect.stringContaining('blast-radius cap reached (2 automatic revocations in 60 s)') });
    expect(d.decide(a({ credential: 'k4' }), 70_000, undefined)?.mode).toBe('auto');
  });
});

describe('kill-switch in the service', () => {
  let rx: Awaited<ReturnType<typeof receiver>>;
  let service: Service;
  let ingest = '';

  beforeAll(async () => {
    rx = await receiver();
    service = new Service({ stateDir: join(dir, 'auto'), receiver: { port: 0 }, policies: [join(dir, 'scope.yaml')], api: { enabled: true, host: '127.0.0.1', port: 0, token: 't' }, killSwitch: killSwitch(rx.url) });
    ingest = `${await service.start()}/v1/traces`;
  });
  afterAll(async () => {
    await service.stop();
    rx.close();
  });

  it('revokes with a signed webhook and CAEP SETs that verify independently', async () => {
    await violate(ingest, 'key_A');
    await until(() => rx.got.filter((r) => r.status < 300).length === 3);
    const hook = rx.got.find((r) => r.path === '/revoke')!;
    const payload = new Webhook(SECRET).verify(hook.body, hook.headers) as any;
    expect(payload).toMatchObject({ type: 'agent.credential.revoked', data: { credential_id: 'key_A', mode: 'auto', agent: { id: 'support-agent-01' }, alert: { severity: 'critical' } } });
    expect(payload.data.alert.trace_link).toMatch(/^https:\/\/traces\.test\/[0-9a-f]{32}$/);
    expect(hook.headers['idempotency-key']).toBe(hook.headers['webhook-id']);

    const jwks = await (await fetch(`${service.apiUrl}/.well-known/jwks.json`)).json();
    const keys = createLocalJWKSet(jwks);
    const sets = rx.got.filter((r) => r.path === '/ssf/events');
    expect(sets.map((s) => [s.headers['content-type'], s.headers.authorization])).toEqual([['application/secevent+jwt', 'Bearer ssf-push-token'], ['application/secevent+jwt', 'Bearer ssf-push-token']]);
    const events: string[] = [];
    for (const s of sets) {
      expect(decodeProtectedHeader(s.body)).toMatchObject({ alg: 'RS256', typ: 'secevent+jwt', kid: jwks.keys[0].kid });
      const { payload: c } = await jwtVerify(s.body, keys, { issuer: 'https://chainwatch.test/', audience: 'https://idp.test/ssf', typ: 'secevent+jwt' });
      expect(c.sub).toBeUndefined();
      expect(c.exp).toBeUndefined();
      expect(c.jti).toMatch(/^set_[0-9a-f]{32}$/);
      expect(c.txn).toMatch(/^rev_[0-9a-f]{32}$/);
      expect(Object.keys(c.events as object)).toHaveLength(1);
      events.push(Object.keys(c.events as object)[0]);
      if (events.at(-1)!.endsWith('credential-change')) {
        expect(c.sub_id).toEqual({ format: 'opaque', id: 'key_A' });
        expect(Object.values(c.events as object)[0]).toMatchObject({ credential_type: 'agent-api-key', change_type: 'revoke' });
      } else expect(c.sub_id).toMatchObject({ format: 'complex', application: { format: 'opaque', id: 'support-agent-01' } });
    }
    expect(events).toEqual(['https://schemas.openid.net/secevent/caep/event-type/session-revoked', 'https://schemas.openid.net/secevent/caep/event-type/credential-change']);
    const [rev] = listRevocations(service.store.db);
    expect(rev).toMatchObject({ credential: 'key_A', status: 'delivered', mode: 'auto' });
    expect(service.engine.global.revoked.get('key_A')?.revocationId).toBe(rev.id);
  });

  it('raises "revocation not enforced" when a revoked credential is used again', async () => {
    const trace = await violate(ingest, 'key_A', Date.now() + 120_000);
    await until(() => service.engine.stats.alerts.critical >= 2);
    await service.eventWriter.flush();
    const page = await service.events.alerts({ limit: 50, agent: 'support-agent-01' });
    const hit = page.alerts.map((s) => s.alert).find((x) => x.traceId === trace && x.detectors.includes('revocation-enforced'));
    expect(hit).toMatchObject({ severity: 'critical', title: expect.stringContaining('Revocation not enforced') });
    expect(hit!.evidence.find((e) => e.detector === 'revocation-enforced')!.reason).toMatch(/credential key_A was revoked/);
  });

  it('delivers every revocation once, in order per credential, after the receiver was down', async () => {
    rx.got.length = 0;
    rx.answer.status = 503;
    const order: Record<string, string[]> = {};
    for (let round = 0; round < 2; round++) {
      for (const cred of ['key_B', 'key_C', 'key_D']) {
        await violate(ingest, cred);
        await until(() => listRevocations(service.store.db, 200).filter((r) => r.credential === cred).length === round + 1);
        (order[cred] ??= []).push(listRevocations(service.store.db, 200).find((r) => r.credential === cred)!.id);
      }
    }
    await until(() => rx.got.length >= 10);
    expect(rx.got.every((r) => r.status === 503)).toBe(true);
    rx.answer.status = 200;
    await until(() => rx.got.filter((r) => r.status < 300 && r.path === '/revoke' && JSON.parse(r.body).data.credential_id !== 'key_A').length === 6, 15_000);
    await new Promise((r) => setTimeout(r, 300));
    const ok = rx.got.filter((r) => r.status < 300 && r.path === '/revoke').map((r) => JSON.parse(r.body).data as { revocation_id: string; credential_id: string })
      .filter((d) => d.credential_id !== 'key_A');
    expect(new Set(ok.map((d) => d.revocation_id)).size).toBe(6);
    for (const cred of ['key_B', 'key_C', 'key_D']) {
      expect(ok.filter((d) => d.credential_id === cred).map((d) => d.revocation_id)).toEqual(order[cred]);
      // The second revocation of a credential was never tried before the first one was delivered.
      const hooks = rx.got.filter((r) => r.path === '/revoke' && JSON.parse(r.body).data.credential_id === cred);
      const firstOk = hooks.findIndex((r) => r.status < 300);
      expect(hooks.slice(0, firstOk).every((r) => JSON.parse(r.body).data.revocation_id === order[cred][0])).toBe(true);
      // Every attempt of one message carried the same idempotency key.
      for (const id of order[cred]) {
        const keys = new Set(hooks.filter((r) => JSON.parse(r.body).data.revocation_id === id).map((r) => r.headers['webhook-id']));
        expect(keys.size).toBe(1);
      }
    }
    await until(() => listRevocations(service.store.db, 200).filter((r) => r.kind === 'revoke').every((r) => r.status === 'delivered'));
  });

  it('waits as long as a rate-limited receiver asks (Retry-After) before trying again', async () => {
    rx.got.length = 0;
    rx.answer.status = 429;
    rx.answer.retryAfter = '2';
    try {
      await violate(ingest, 'key_R');
      await until(() => rx.got.some((r) => r.path === '/revoke'));
      rx.answer.status = 200;
      rx.answer.retryAfter = undefined;
      await until(() => rx.got.some((r) => r.path === '/revoke' && r.status < 300), 10_000);
    } finally {
      rx.answer.status = 200;
      rx.answer.retryAfter = undefined;
    }
    const hooks = rx.got.filter((r) => r.path === '/revoke');
    expect(hooks.map((r) => r.status)).toEqual([429, 200]);
    // Its backoff alone (40 ms, doubling) would have tried again within a fraction of a second.
    expect(hooks[1].at - hooks[0].at).toBeGreaterThanOrEqual(1_900);
    await until(() => listRevocations(service.store.db, 200).find((r) => r.credential === 'key_R')?.status === 'delivered');
  });

  it('undoes a delivered revocation: a restore message goes out and the credential is no longer watched', async () => {
    rx.got.length = 0;
    const rev = listRevocations(service.store.db, 200).find((r) => r.credential === 'key_A' && r.status === 'delivered' && service.engine.global.revoked.get('key_A')?.revocationId === r.id)!;
    // As `chainwatch revocations undo` does it: another process, its own connection to the state.
    const cli = openDatabase(join(dir, 'auto'));
    const { restoreId } = undoRevocation(cli, rev.id, 'ana', 'false positive: vendor migration');
    cli.close();
    expect(restoreId).toMatch(/^res_/);
    await until(() => rx.got.some((r) => r.status < 300 && r.path === '/revoke' && JSON.parse(r.body).type === 'agent.credential.restored'));
    await until(() => !service.engine.global.revoked.has('key_A'));
    const audit = service.store.db.prepare("SELECT actor, action, detail FROM audit WHERE action = 'revocation.undo'").all();
    expect(audit).toEqual([{ actor: 'ana', action: 'revocation.undo', detail: 'false positive: vendor migration' }]);
  });
});

/** The service's Prometheus endpoint, on a free port; and one metric's value scraped from it. */
const PROMETHEUS = { prometheus: { enabled: true, host: '127.0.0.1', port: 0 }, otlp: { enabled: false, endpoint: '', intervalMs: 60_000, headers: {}, traces: false } };
const metric = async (service: Service, name: string, labels = ''): Promise<number> => metricValue(await (await fetch(service.metricsUrl!)).text(), name, labels);

describe('approval and dead letters', () => {
  it('holds a revocation for approval, then sends it once approved', async () => {
    const rx = await receiver();
    const service = new Service({ stateDir: join(dir, 'approve'), receiver: { port: 0 }, policies: [join(dir, 'scope.yaml')], telemetry: PROMETHEUS, killSwitch: killSwitch(rx.url, { ssf: undefined, policy: { rules: [{ name: 'review', killSwitch: true, mode: 'approve' }], blastRadius: { max: 5, windowMs: 60_000 }, cooldownMs: 0 } }) });
    const ingest = `${await service.start()}/v1/traces`;
    await violate(ingest, 'key_E');
    await until(() => listRevocations(service.store.db).length === 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(rx.got).toHaveLength(0);
    const [rev] = listRevocations(service.store.db);
    expect(rev.status).toBe('awaiting-approval');
    // What a platform team alerts on: a revocation decided and held, nothing sent yet.
    expect([await metric(service, 'chainwatch_revocations_total', 'mode="approve"'), await metric(service, 'chainwatch_outbox_pending'), await metric(service, 'chainwatch_revocation_attempts_total', 'outcome="delivered"')]).toEqual([1, 1, 0]);
    const cli = openDatabase(join(dir, 'approve'));
    approveRevocation(cli, rev.id, 'bo', 'confirmed exfiltration');
    cli.close();
    await until(() => rx.got.some((r) => r.status < 300));
    expect(JSON.parse(rx.got[0].body).data).toMatchObject({ revocation_id: rev.id, mode: 'approve' });
    await until(async () => (await metric(service, 'chainwatch_outbox_pending')) === 0);
    expect(await metric(service, 'chainwatch_revocation_attempts_total', 'outcome="delivered"')).toBe(1);
    await service.stop();
    rx.close();
  });

  for (const outcome of [500, 200]) {
    it(`keeps a revocation cancelled while its request is in flight from being sent again (the attempt answered ${outcome})`, async () => {
      const rx = await receiver();
      let open = (): void => {};
      rx.answer.gate = new Promise<void>((r) => (open = r));
      const alerts: Alert[] = [];
      const state = join(dir, `cancel-${outcome}`);
      const service = new Service({ stateDir: state, receiver: { port: 0 }, policies: [join(dir, 'scope.yaml')], onAlert: (a) => alerts.push(a), killSwitch: killSwitch(rx.url, { ssf: undefined, retry: { maxAttempts: 3, baseMs: 20, maxMs: 50 } }) });
      const ingest = `${await service.start()}/v1/traces`;
      try {
        await violate(ingest, `key_X${outcome}`);
        await until(() => rx.got.length === 1); // in flight: the receiver holds it
        const [rev] = listRevocations(service.store.db);
        const cli = openDatabase(state);
        undoRevocation(cli, rev.id, 'ana', 'the wrong agent');
        cli.close();
        rx.answer.status = outcome;
        rx.answer.gate = undefined;
        open();
        const revocation = (): ReturnType<typeof listRevocations>[number] => listRevocations(service.store.db).find((r) => r.id === rev.id)!;
        if (outcome === 500) {
          // A failed attempt does not make the cancelled message pending again: nothing more is sent, nothing dead-lettered.
          await until(() => rx.got[0].status === 500);
          await new Promise((r) => setTimeout(r, 400));
          expect(rx.got).toHaveLength(1);
          expect(revocation()).toMatchObject({ status: 'cancelled', deliveries: [{ status: 'cancelled', attempts: 1 }] });
          expect(alerts.some((a) => a.title === 'Revocation delivery failed')).toBe(false);
        } else {
          // Delivered all the same: so recorded, the credential counts as revoked, and an undo now restores it.
          await until(() => revocation().status === 'delivered');
          expect(service.engine.global.revoked.has('key_X200')).toBe(true);
          const audit = service.store.db.prepare("SELECT action, detail FROM audit WHERE target = ? ORDER BY at, rowid").all(rev.id) as { action: string; detail: string }[];
          expect(audit.map((a) => a.action)).toEqual(['revocation.recorded', 'revocation.cancel', 'revocation.delivered-after-cancel']);
          expect(audit[2].detail).toMatch(/was in flight when the revocation was cancelled, and was delivered: undo the revocation to restore the credential/);
          const again = openDatabase(state);
          expect(undoRevocation(again, rev.id, 'ana', 'the wrong agent').restoreId).toMatch(/^res_/);
          again.close();
          await until(() => rx.got.some((r) => r.status === 200 && JSON.parse(r.body).type === 'agent.credential.restored'));
          await until(() => !service.engine.global.revoked.has('key_X200'));
        }
      } finally {
        open();
        await service.stop();
        rx.close();
      }
    });
  }

  it('dead-letters after the retry limit and raises a critical alert', async () => {
    const rx = await receiver();
    rx.answer.status = 500;
    const alerts: Alert[] = [];
    const service = new Service({ stateDir: join(dir, 'dead'), receiver: { port: 0 }, policies: [join(dir, 'scope.yaml')], telemetry: PROMETHEUS, onAlert: (a) => alerts.push(a), killSwitch: killSwitch(rx.url, { ssf: undefined, retry: { maxAttempts: 3, baseMs: 20, maxMs: 50 } }) });
    const ingest = `${await service.start()}/v1/traces`;
    await violate(ingest, 'key_F');
    await until(() => alerts.some((a) => a.title === 'Revocation delivery failed'));
    expect(rx.got).toHaveLength(3);
    const dead = alerts.find((a) => a.title === 'Revocation delivery failed')!;
    expect(dead).toMatchObject({ severity: 'critical', credential: 'key_F', detectors: ['kill-switch'] });
    expect(dead.summary).toMatch(/could not be delivered by webhook after 3 attempts: HTTP 500/);
    expect(listRevocations(service.store.db)[0].status).toBe('dead');
    expect([await metric(service, 'chainwatch_revocations_dead_total'), await metric(service, 'chainwatch_revocation_attempts_total', 'outcome="failed"'), await metric(service, 'chainwatch_outbox_pending')]).toEqual([1, 3, 0]);
    await service.stop();
    rx.close();
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
