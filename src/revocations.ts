/**
 * Revocations as people handle them (`chainwatch revocations list | approve | undo`), straight on
 * the embedded store — the running service follows the commits. Every change is audited: who,
 * when, what and why.
 */
import { createHash } from 'node:crypto';
import type { Alert } from './alerts.js';
import { ChainwatchError } from './errors.js';
import { revocationBody } from './kill-switch.js';
import { audit, type Db } from './sqlite-db.js';

export interface RevocationView {
  id: string; created: string; kind: string; credential: string; agent: string; alert: string; mode: string; status: string; reason: string;
  deliveries: { id: string; channel: string; status: string; attempts: number; lastError: string | null; deliveredAt: string | null }[];
}

export function listRevocations(db: Db, limit = 100): RevocationView[] {
  const rows = db.prepare('SELECT * FROM revocations ORDER BY created_at DESC, id LIMIT ?').all(limit) as { id: string; created_at: number; kind: string; credential: string; agent_id: string; alert_id: string; mode: string; status: string; reason: string }[];
  const deliveries = db.prepare('SELECT id, channel, status, attempts, last_error, delivered_at FROM outbox WHERE revocation_id = ? ORDER BY seq');
  return rows.map((r) => ({
    id: r.id, created: new Date(r.created_at).toISOString(), kind: r.kind, credential: r.credential, agent: r.agent_id, alert: r.alert_id, mode: r.mode, status: r.status, reason: r.reason,
    deliveries: (deliveries.all(r.id) as { id: string; channel: string; status: string; attempts: number; last_error: string | null; delivered_at: number | null }[])
      .map((d) => ({ id: d.id, channel: d.channel, status: d.status, attempts: d.attempts, lastError: d.last_error, deliveredAt: d.delivered_at === null ? null : new Date(d.delivered_at).toISOString() })),
  }));
}

function find(db: Db, id: string): { id: string; status: string; kind: string; credential: string; alert: string; agent_id: string; alert_id: string } {
  const r = db.prepare('SELECT * FROM revocations WHERE id = ?').get(id) as ReturnType<typeof find> | undefined;
  if (r === undefined) throw new ChainwatchError(`no revocation ${id}: see chainwatch revocations list`);
  return r;
}

/** Release a revocation that waits for approval; the service sends it on its next pass. */
export function approveRevocation(db: Db, id: string, by: string, note: string): void {
  const r = find(db, id);
  if (r.status !== 'awaiting-approval') throw new ChainwatchError(`revocation ${id} is ${r.status}, not awaiting approval`);
  const now = Date.now();
  db.transaction(() => {
    db.prepare("UPDATE revocations SET status = 'pending' WHERE id = ?").run(id);
    db.prepare("UPDATE outbox SET status = 'pending', next_at = ? WHERE revocation_id = ? AND status = 'held'").run(now, id);
    audit(db, now, by, 'revocation.approve', id, note);
  })();
}

/**
 * Take a revocation back. Not yet sent: cancelled. Delivered: the credential stops counting as
 * revoked, and a restore message (same channel, its own idempotency key) tells the webhook receiver.
 */
export function undoRevocation(db: Db, id: string, by: string, note: string): { restoreId?: string } {
  const r = find(db, id);
  const now = Date.now();
  if (r.kind !== 'revoke') throw new ChainwatchError(`${id} is a ${r.kind}, not a revocation`);
  if (['cancelled', 'undone'].includes(r.status)) throw new ChainwatchError(`revocation ${id} is already ${r.status}`);
  let restoreId: string | undefined;
  db.transaction(() => {
    if (r.status !== 'delivered') {
      db.prepare("UPDATE revocations SET status = 'cancelled' WHERE id = ?").run(id);
      db.prepare("UPDATE outbox SET status = 'cancelled' WHERE revocation_id = ? AND status IN ('held', 'pending', 'sending', 'dry-run', 'dead')").run(id);
      audit(db, now, by, 'revocation.cancel', id, note);
      return;
    }
    db.prepare("UPDATE revocations SET status = 'undone' WHERE id = ?").run(id);
    db.prepare('DELETE FROM revoked WHERE credential = ? AND revocation_id = ?').run(r.credential, id);
    const hadWebhook = db.prepare("SELECT 1 FROM outbox WHERE revocation_id = ? AND channel = 'webhook'").get(id) !== undefined;
    if (hadWebhook) {
      restoreId = `res_${createHash('sha256').update(`${id}\nrestore`).digest('hex').slice(0, 32)}`;
      const alert = JSON.parse(r.alert) as Alert;
      db.prepare('INSERT INTO revocations (id, created_at, kind, credential, agent_id, alert_id, mode, status, reason, alert) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(restoreId, now, 'restore', r.credential, r.agent_id, r.alert_id, 'manual', 'pending', `undo of ${id} by ${by}: ${note}`, r.alert);
      db.prepare('INSERT INTO outbox (id, revocation_id, channel, credential, status, body, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(`msg_${restoreId.slice(4)}`, restoreId, 'webhook', r.credential, 'pending', revocationBody('agent.credential.restored', id, alert, `undo by ${by}: ${note}`, 'manual', now), now, now);
    }
    audit(db, now, by, 'revocation.undo', id, note);
  })();
  return restoreId === undefined ? {} : { restoreId };
}
