/**
 * Destinations named inside tool-call arguments: the place a tool will send data or act on,
 * even when the HTTP span only shows an internal gateway. URLs give their host, email addresses
 * give the address and its domain, IBAN-shaped strings give an account, `#name` or channel
 * fields a channel, `@name` or user fields a user. Bounded in depth, count and string length.
 */
import type { AttrValue } from './span.js';

export type DestinationKind = 'host' | 'email' | 'email-domain' | 'account' | 'channel' | 'user' | 'domain';

export interface Destination {
  kind: DestinationKind;
  value: string;
}

const MAX_DESTINATIONS = 16;
const MAX_STRING = 2048;
// Exported for the differential test of the scan (test/arg-destinations.test.ts).
export const URL_RE = /\bhttps?:\/\/([A-Za-z0-9.-]+\.[A-Za-z]{2,}|\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?/g;
export const EMAIL_RE = /\b[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b/g;
export const IBAN_RE = /^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/;
export const ACCOUNT_KEY = /(^|_)(iban|account|account_number|acct|destination_account|beneficiary)$/i;
export const CHANNEL_KEY = /(^|_)(channel|channel_id|channel_name|room)$/i;
export const USER_KEY = /(^|_)(user|username|recipient|assignee|to_user|handle)$/i;
export const DOMAIN_KEY = /(^|_)(domain|host|hostname)$/i;
export const DOMAIN_RE = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/;

/** No destinations: shared, frozen (most calls carry no arguments). */
const NONE: Destination[] = Object.freeze([]) as unknown as Destination[];

/** Parse the arguments attribute (a JSON string or structured value) and list its destinations. */
export function argDestinations(args: AttrValue | undefined): Destination[] {
  if (args === undefined || args === null) return NONE;
  let value: unknown = args;
  if (typeof args === 'string') {
    const t = args.trim();
    if (t.startsWith('{') || t.startsWith('[')) {
      try {
        value = JSON.parse(t);
      } catch {
        value = args;
      }
    }
  }
  const out: Destination[] = [];
  walk(value, '', 0, out);
  return out.length === 0 ? NONE : out;
}

/** Add a destination unless the list is full or has it (a scan: the list holds at most 16). */
function add(out: Destination[], kind: DestinationKind, v: string): void {
  if (out.length >= MAX_DESTINATIONS) return;
  const value = kind === 'account' ? v : v.toLowerCase();
  for (let i = 0; i < out.length; i++) if (out[i].kind === kind && out[i].value === value) return;
  out.push({ kind, value });
}

// Loops by index and for-in rather than slice()/Object.entries(): no array per object or list.
function walk(v: unknown, key: string, depth: number, out: Destination[]): void {
  if (depth > 6) return;
  if (typeof v === 'string') {
    scanString(v.length > MAX_STRING ? v.slice(0, MAX_STRING) : v, key, out);
  } else if (Array.isArray(v)) {
    const n = Math.min(v.length, 64);
    for (let i = 0; i < n; i++) walk(v[i], key, depth + 1, out);
  } else if (v !== null && typeof v === 'object') {
    let n = 0;
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      if (n++ === 64) break;
      walk((v as Record<string, unknown>)[k], k, depth + 1, out);
    }
  }
}

const ACCOUNT = 1;
const CHANNEL = 2;
const USER = 4;
const DOMAIN = 8;
/** What each argument name may hold (names repeat across calls: tested once each, first 4,096). */
const keyKinds = new Map<string, number>();

function kindsOf(key: string): number {
  let k = keyKinds.get(key);
  if (k === undefined) {
    k = (ACCOUNT_KEY.test(key) ? ACCOUNT : 0) | (CHANNEL_KEY.test(key) ? CHANNEL : 0) | (USER_KEY.test(key) ? USER : 0) | (DOMAIN_KEY.test(key) ? DOMAIN : 0);
    if (keyKinds.size < 4096) keyKinds.set(key, k);
  }
  return k;
}

// Each test below is skipped when a cheap necessary condition fails: a URL needs "://", an email
// "@", an IBAN at least 15 characters.
function scanString(s: string, key: string, out: Destination[]): void {
  // exec on the shared global patterns (matchAll clones the RegExp per string); each loop runs
  // until exec returns null, which leaves lastIndex at 0 for the next string.
  if (s.includes('://')) {
    URL_RE.lastIndex = 0;
    for (let m = URL_RE.exec(s); m !== null; m = URL_RE.exec(s)) add(out, 'host', m[1]);
  }
  if (s.includes('@')) {
    EMAIL_RE.lastIndex = 0;
    for (let m = EMAIL_RE.exec(s); m !== null; m = EMAIL_RE.exec(s)) {
      add(out, 'email', m[0]);
      add(out, 'email-domain', m[1]);
    }
  }
  const kinds = kindsOf(key);
  const t = s.trim();
  if (t.length >= 15 || (kinds & ACCOUNT) !== 0) {
    const compact = t.replace(/\s+/g, '');
    if (IBAN_RE.test(compact) || ((kinds & ACCOUNT) !== 0 && /^[A-Z0-9-]{6,34}$/i.test(compact))) add(out, 'account', compact.toUpperCase());
  }
  if (t.startsWith('#') && /^#[\w.-]{1,80}$/.test(t)) add(out, 'channel', t);
  else if ((kinds & CHANNEL) !== 0 && /^[\w#.-]{1,80}$/.test(t)) add(out, 'channel', t.startsWith('#') ? t : `#${t}`);
  if (t.startsWith('@') && /^@[\w.-]{1,80}$/.test(t)) add(out, 'user', t);
  else if ((kinds & USER) !== 0 && /^[\w.-]{1,80}$/.test(t) && !t.includes('@')) add(out, 'user', `@${t}`);
  if ((kinds & DOMAIN) !== 0 && DOMAIN_RE.test(t)) add(out, 'domain', t);
}
