/**
 * Standard Webhooks signatures (FORMATS.md 5.3): HMAC-SHA256 over `${id}.${timestamp}.${body}`
 * with the base64-decoded `whsec_` secret, sent as `webhook-id`, `webhook-timestamp` (seconds,
 * of this attempt) and `webhook-signature: v1,<base64>`. The id is the idempotency key: the same
 * on every attempt of one delivery.
 */
import { createHmac } from 'node:crypto';
import { ConfigError } from './errors.js';

export function webhookKey(secret: string, where: string): Buffer {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  if (key.length < 24 || key.length > 64) {
    throw ConfigError.ofSetting(where, `the webhook secret must be whsec_ + base64 of 24–64 random bytes (got ${key.length} bytes); generate one with: node -e "console.log('whsec_'+require('crypto').randomBytes(32).toString('base64'))"`);
  }
  return key;
}

export function signWebhook(key: Buffer, id: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  const sig = createHmac('sha256', key).update(`${id}.${nowSeconds}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(nowSeconds), 'webhook-signature': `v1,${sig}` };
}
