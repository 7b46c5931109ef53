/**
 * The kill-switch: alerts the response policy selects become revocations, recorded in the
 * embedded store's outbox before anything is sent, then delivered — a Standard Webhooks-signed
 * webhook and/or CAEP SETs pushed per RFC 8935 — with retries (exponential backoff, jitter,
 * Retry-After), in order per credential and channel, and dead-lettered (with a critical alert)
 * after the retry limit. Every message has a fixed id, used as its idempotency key on every
 * attempt: a row is marked `sending` (attempt counted) and committed before the request leaves,
 * so a process killed mid-request resends the same message after restart, never a new one.
 * Deliveries acknowledged feed the revoked-credential set the `revocation-enforced` detector checks.
 */
import { createHash } from 'node:crypto';
import type { Alert } from './alerts.js';
import { traceLink } from './format-common.js';
import { type Decision, ResponseDecider, type ResponsePolicy } from './response-policy.js';
import { audit, type Db } from './sqlite-db.js';
import { type SsfSigner, signSet } from './ssf.js';
import { signWebhook } from './webhook-sign.js';
import { ResponseConfigError } from './errors.js';
import { describeFetchError } from './fetch-error.js';
import { retryAfterMs } from './retry-after.js';

export interface KillSwitchConfig {
  policy: ResponsePolicy;
  webhook?: { url: string; key: Buffer; timeoutMs: number };
  ssf?: { endpoint: string; issuer: string; audience: string; authorization?: string; credentialType: string; timeoutMs: number };
  retry: { maxAttempts: number; baseMs: number; maxMs: number };
  linkTemplate?: string;
}

export interface KillSwitchHooks {
  /** A revocation was acknowledged on every channel. */
  revoked(credential: string, at: number, revocationId: string): void;
  /** An undo took effect: the credential is no longer treated as revoked. */
  restored(credential: string): void;
  /** A delivery gave up: raise this alert. */
  alert(alert: Alert): void;
}

export interface KillSwitchCounters { decided: Record<string, number>; attempts: number; delivered: number; failedAttempts: number; dead: number }

type Channel = 'webhook' | 'set';
interface OutboxRow { seq: number; id: string; revocation_id: string; channel: Channel; credential: string; status: string; body: string; attempts: number }

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 32);

export class KillSwitch {
  private readonly decider: ResponseDecider;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private dataVersion = -1;
  /** Credentials counted as revoked, as last read from the store. */
  private known = new Set<string>();
  readonly counters: KillSwitchCounters = { decided: {}, attempts: 0, delivered: 0, failedAttempts: 0, dead: 0 };

  constructor(readonly db: Db, readonly config: KillSwitchConfig, private readonly hooks: KillSwitchHooks, public signer?: SsfSigner) {
    this.decider = new ResponseDecider(config.policy);
  }

  /** Credentials currently revoked (acknowledged and not undone), for the detector at start. */
  revokedCredentials(): { credential: string; revocation_id: string; at: number }[] {
    return this.db.prepare('SELECT credential, revocation_id, at FROM revoked').all() as { credential: string; revocation_id: string; at: number }[];
  }

  /** Messages not delivered yet: pending, in flight, or held for approval. */
  pending(): number {
    if (!this.db.open) return 0;
    return (this.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending', 'held')").get() as { n: number }).n;
  }

  start(pollMs = 250): void {
    this.syncRevoked();
    this.timer = setInterval(() => {
      this.syncRevoked();
      this.kick();
    }, pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Another process (the CLI) may have approved or undone something: follow its commits. */
  private syncRevoked(): void {
    const v = this.db.pragma('data_version', { simple: true }) as number;
    if (v === this.dataVersion) return;
    this.dataVersion = v;
    const rows = this.revokedCredentials();
    const now = new Set(rows.map((r) => r.credential));
    for (const c of this.known) if (!now.has(c)) this.hooks.restored(c);
    for (const r of rows) if (!this.known.has(r.credential)) this.hooks.revoked(r.credential, r.at, r.revocation_id);
    this.known = now;
  }

  /** Decide on an alert and, when it revokes, record the revocation and its messages (one transaction). */
  async onAlert(alert: Alert): Promise<Decision | undefined> {
    const now = Date.now();
    const credential = alert.credential;
    if (credential === undefined) return undefined;
    const last = this.db.prepare("SELECT MAX(created_at) AS t FROM revocations WHERE credential = ? AND kind = 'revoke' AND status NOT IN ('cancelled', 'dry-run')").get(credential) as { t: number | null };
    const d = this.decider.decide(alert, now, last.t ?? undefined);
    if (d === undefined) return undefined;
    this.counters.decided[d.mode] = (this.counters.decided[d.mode] ?? 0) + 1;
    const revocationId = `rev_${hash(`${alert.id}\n${credential}\nrevoke`)}`;
    const messages = await this.messages(revocationId, alert, d, now);
    const status = d.mode === 'dry-run' ? 'dry-run' : d.mode === 'approve' ? 'awaiting-approval' : 'pending';
    const rowStatus = d.mode === 'dry-run' ? 'dry-run' : d.mode === 'approve' ? 'held' : 'pending';
    this.db.transaction(() => {
      const inserted = this.db.prepare('INSERT OR IGNORE INTO revocations (id, created_at, kind, credential, agent_id, alert_id, mode, status, reason, alert) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(revocationId, now, 'revoke', credential, alert.agent.id, alert.id, d.mode, status, d.reason, JSON.stringify(alert)).changes;
      if (inserted === 0) return;
      const add = this.db.prepare('INSERT OR IGNORE INTO outbox (id, revocation_id, channel, credential, status, body, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      for (const m of messages) add.run(m.id, revocationId, m.channel, credential, rowStatus, m.body, now, now);
      audit(this.db, now, 'chainwatch', 'revocation.recorded', revocationId, `[${d.mode}] ${d.reason}`);
    })();
    if (d.mode === 'auto') this.kick();
    return d;
  }

  /** The exact bytes each channel will send, fixed now so every attempt sends the same message. */
  private async messages(revocationId: string, alert: Alert, d: Decision, now: number): Promise<{ id: string; channel: Channel; body: string }[]> {
    const out: { id: string; channel: Channel; body: string }[] = [];
    const credential = alert.credential!;
    if (this.config.webhook) {
      out.push({ id: `msg_${hash(`${revocationId}\nwebhook`)}`, channel: 'webhook', body: revocationBody('agent.credential.revoked', revocationId, alert, d.reason, d.mode, now, this.config.linkTemplate) });
    }
    if (this.config.ssf && this.signer) {
      const s = this.config.ssf;
      const iat = Math.floor(now / 1000);
      const application = { format: 'opaque', id: alert.agent.id };
      const sets: [string, Record<string, unknown>, Record<string, unknown>][] = [
        ['session-revoked', { format: 'complex', session: { format: 'opaque', id: alert.conversationId ?? alert.traceId }, application },
          { event_timestamp: Math.floor(Date.parse(alert.time) / 1000), initiating_entity: 'policy', reason_admin: { en: `${alert.title} (alert ${alert.id}): ${d.reason}`.slice(0, 500) } }],
        ['credential-change', { format: 'opaque', id: credential },
          { credential_type: s.credentialType, change_type: 'revoke', friendly_name: `${alert.agent.id} credential ${credential}`, event_timestamp: iat, initiating_entity: 'policy', reason_admin: { en: `alert ${alert.id}` } }],
      ];
      for (const [event, sub, payload] of sets) {
        const id = `set_${hash(`${revocationId}\n${event}`)}`;
        out.push({ id, channel: 'set', body: await signSet(this.signer, { iss: s.issuer, aud: s.audience, jti: id, iat, txn: revocationId, sub_id: sub, event, payload }) });
      }
    }
    return out;
  }

  /** Run a delivery pass now (or right after the current one). */
  kick(): void {
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.deliverDue().finally(() => {
      this.pass = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Wait for the delivery pass in progress (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pass) await this.pass;
  }

  /** One pass: the oldest due message of each credential and channel, sent concurrently. */
  async deliverDue(now = Date.now()): Promise<void> {
    const due = this.db.prepare(`SELECT o.* FROM outbox o WHERE o.status IN ('pending', 'sending') AND o.next_at <= ?
      AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.credential = o.credential AND p.channel = o.channel AND p.status IN ('pending', 'sending') AND p.seq < o.seq)
      ORDER BY o.seq LIMIT 64`).all(now) as OutboxRow[];
    await Promise.all(due.map((row) => this.deliver(row)));
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const attempt = row.attempts + 1;
    // Recorded before the request leaves: a crash from here on resends this same message.
    this.db.prepare("UPDATE outbox SET status = 'sending', attempts = ? WHERE id = ?").run(attempt, row.id);
    this.counters.attempts++;
    let status = 0;
    let error = '';
    let retryAfter: number | undefined;
    try {
      const res = await this.send(row);
      status = res.status;
      if (status < 200 || status >= 300) error = `HTTP ${status}: ${(await res.text()).slice(0, 200)}`;
      else await res.body?.cancel();
      retryAfter = retryAfterMs(res.headers.get('retry-after'), Date.now());
    } catch (err) {
      error = describeFetchError(err);
    }
    const now = Date.now();
    // Each outcome is recorded only while the message is still 'sending': an operator may cancel
    // the revocation while its request is in flight (`revocations undo`), and a failed attempt
    // must not make a cancelled message pending again — it would be sent after all.
    const stillSending = "WHERE id = ? AND status = 'sending'";
    if (error === '') {
      this.counters.delivered++;
      this.db.transaction(() => {
        if (this.db.prepare(`UPDATE outbox SET status = 'delivered', delivered_at = ?, last_error = NULL ${stillSending}`).run(now, row.id).changes > 0) {
          this.settle(row.revocation_id, now);
          return;
        }
        // Cancelled while in flight, and delivered all the same: the receiver has acted on it. So
        // recorded — the credential counts as revoked, and undoing the revocation sends the restore.
        this.db.prepare("UPDATE outbox SET status = 'delivered', delivered_at = ?, last_error = NULL WHERE id = ?").run(now, row.id);
        audit(this.db, now, 'chainwatch', 'revocation.delivered-after-cancel', row.revocation_id, `${row.channel} ${row.id} was in flight when the revocation was cancelled, and was delivered: undo the revocation to restore the credential`);
        this.delivered(row.revocation_id, now);
      })();
      return;
    }
    this.counters.failedAttempts++;
    // 410 Gone: the endpoint asks us to stop; other 4xx (but 408, 429) will not get better by retrying.
    const permanent = status === 410 || (status >= 400 && status < 500 && status !== 408 && status !== 429);
    if (permanent || attempt >= this.config.retry.maxAttempts) {
      const dead = this.db.transaction(() => {
        if (this.db.prepare(`UPDATE outbox SET status = 'dead', last_error = ? ${stillSending}`).run(error, row.id).changes === 0) return false;
        this.db.prepare("UPDATE revocations SET status = 'dead' WHERE id = ?").run(row.revocation_id);
        audit(this.db, now, 'chainwatch', 'revocation.dead-letter', row.revocation_id, `${row.channel} ${row.id}: ${error}`);
        return true;
      })();
      if (dead) {
        this.counters.dead++;
        this.hooks.alert(deadLetterAlert(this.db, row, error, attempt));
      }
      return;
    }
    const { baseMs, maxMs } = this.config.retry;
    const backoff = Math.min(maxMs, baseMs * 2 ** (attempt - 1)) * (0.5 + Math.random());
    this.db.prepare(`UPDATE outbox SET status = 'pending', next_at = ?, last_error = ? ${stillSending}`).run(now + Math.max(backoff, retryAfter ?? 0), error, row.id);
  }

  private send(row: OutboxRow): Promise<Response> {
    const signal = AbortSignal.timeout((row.channel === 'webhook' ? this.config.webhook?.timeoutMs : this.config.ssf?.timeoutMs) ?? 10_000);
    if (row.channel === 'webhook') {
      const w = this.config.webhook;
      if (!w) throw new ResponseConfigError('no webhook configured for a webhook message (response.webhook was removed?)');
      return fetch(w.url, { method: 'POST', redirect: 'manual', signal, body: row.body, headers: { 'content-type': 'application/json', 'idempotency-key': row.id, ...signWebhook(w.key, row.id, row.body) } });
    }
    const s = this.config.ssf;
    if (!s) throw new ResponseConfigError('no SSF receiver configured for a SET (response.ssf was removed?)');
    const headers: Record<string, string> = { 'content-type': 'application/secevent+jwt', accept: 'application/json' };
    if (s.authorization) headers.authorization = s.authorization;
    return fetch(s.endpoint, { method: 'POST', redirect: 'manual', signal, body: row.body, headers });
  }

  /** When every message of a revocation is delivered, it is done: the credential counts as revoked. */
  private settle(revocationId: string, now: number): void {
    const open = this.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE revocation_id = ? AND status != 'delivered'").get(revocationId) as { n: number };
    if (open.n === 0) this.delivered(revocationId, now);
  }

  /** A revocation done: delivered, and a revoke's credential counts as revoked from now on. */
  private delivered(revocationId: string, now: number): void {
    const r = this.db.prepare('SELECT kind, credential FROM revocations WHERE id = ?').get(revocationId) as { kind: string; credential: string };
    this.db.prepare("UPDATE revocations SET status = 'delivered' WHERE id = ?").run(revocationId);
    if (r.kind === 'revoke') {
      this.db.prepare('INSERT OR REPLACE INTO revoked (credential, revocation_id, at) VALUES (?, ?, ?)').run(r.credential, revocationId, now);
      this.known.add(r.credential);
      this.hooks.revoked(r.credential, now, revocationId);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** The webhook body: what was revoked, why, and the alert behind it. */
export function revocationBody(type: string, revocationId: string, alert: Alert, reason: string, mode: string, now: number, linkTemplate?: string): string {
  const link = traceLink(alert, linkTemplate);
  return JSON.stringify({
    type, timestamp: new Date(now).toISOString(),
    data: {
      revocation_id: revocationId, credential_id: alert.credential, mode, reason,
      agent: alert.agent, ...(alert.principal ? { principal: alert.principal } : {}),
      alert: { id: alert.id, severity: alert.severity, title: alert.title, summary: alert.summary, trace_id: alert.traceId, span_ids: alert.spanIds, ...(link ? { trace_link: link } : {}) },
    },
  });
}

function deadLetterAlert(db: Db, row: OutboxRow, error: string, attempts: number): Alert {
  const r = db.prepare('SELECT agent_id, alert FROM revocations WHERE id = ?').get(row.revocation_id) as { agent_id: string; alert: string };
  const source = JSON.parse(r.alert) as Alert;
  const now = new Date().toISOString();
  const reason = `revocation ${row.revocation_id} of credential ${row.credential} could not be delivered by ${row.channel} after ${attempts} attempts: ${error}`;
  return {
    schema: 'chainwatch.alert/v1', id: hash(`dead-letter\n${row.id}`), kind: 'chain', time: now, severity: 'critical', score: 0.99,
    title: 'Revocation delivery failed', summary: reason, signature: `kill-switch:dead-letter:${row.channel}`, detectors: ['kill-switch'],
    agent: source.agent, credential: row.credential, traceId: source.traceId, spanIds: source.spanIds,
    chain: source.chain, evidence: [{ detector: 'kill-switch', score: 0.99, title: 'Revocation delivery failed', reason, expected: `${row.channel} receiver acknowledges within ${attempts} attempts`, observed: error, spanIds: source.spanIds }],
    count: 1, firstSeen: now, lastSeen: now, traceIds: [source.traceId],
  };
}
