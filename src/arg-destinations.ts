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
  const out: Destination[] = [];
  let value: unknown = args;
  if (typeof args === 'string') {
    const t = args.trim();
    if (t.startsWith('{') || t.startsWith('[')) {
      if (scanJson(t, out)) return out.length === 0 ? NONE : out;
      out.length = 0;
      try {
        value = JSON.parse(t);
      } catch {
        value = args;
      }
    }
  }
  walk(value, '', 0, out);
  return out.length === 0 ? NONE : out;
}

/**
 * What walk(JSON.parse(text)) finds, read off the text without building its value: JSON.parse
 * of a tool's arguments, with the objects it makes, was most of this module's time (timed in
 * place on the bench, the module took ~2 µs a call with arguments, 4% of the whole path; in a loop
 * of its own ~1 µs, JSON.parse alone ~0.5 µs). False when the text holds anything the scan
 * leaves to JSON.parse — an escape in a string, a key that starts with a digit (an object lists
 * such keys first, whatever their place), a key twice (the last value wins), more than 64 keys
 * in an object — or is not JSON; `out` may then hold part of an answer, and the caller starts
 * again. test/arg-destinations.test.ts checks the two against each other on generated texts.
 */
function scanJson(text: string, out: Destination[]): boolean {
  src = text;
  at = 0;
  keyCount = 0;
  const ok = scanValue('', 0, out) && (skipSpace(), at === text.length);
  src = '';
  return ok;
}

/** The text being scanned, and the scan's position in it. */
let src = '';
let at = 0;
/** The keys of the objects open in the scan, innermost last (for the duplicate check). */
const keyStack: string[] = [];
let keyCount = 0;

function skipSpace(): void {
  for (;;) {
    const c = src.charCodeAt(at);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
    at++;
  }
}

/** One value at `at`; strings at depth ≤ 6 are scanned under `key`, as walk does. */
function scanValue(key: string, depth: number, out: Destination[]): boolean {
  skipSpace();
  const c = src.charCodeAt(at);
  if (c === 0x22) {
    const start = ++at;
    if (!skipString()) return false;
    if (depth <= 6) scanString(src.slice(start, Math.min(at - 1, start + MAX_STRING)), key, out);
    return true;
  }
  // Nesting past walk's reach and then some is left to JSON.parse, not to this recursion.
  if ((c === 0x7b || c === 0x5b) && depth > 64) return false;
  if (c === 0x7b) return scanObject(depth, out);
  if (c === 0x5b) return scanArray(key, depth, out);
  if (c === 0x74) return literal('true');
  if (c === 0x66) return literal('false');
  if (c === 0x6e) return literal('null');
  return skipNumber();
}

/** Past a string's closing quote (`at` is just inside it); false on an escape or a control character. */
function skipString(): boolean {
  for (;;) {
    const c = src.charCodeAt(at++);
    if (c === 0x22) return true;
    // NaN past the end fails both tests: a string left open is not JSON either.
    if (c === 0x5c || !(c >= 0x20)) return false;
  }
}

function literal(word: string): boolean {
  if (!src.startsWith(word, at)) return false;
  at += word.length;
  return true;
}

/** JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
function skipNumber(): boolean {
  if (src.charCodeAt(at) === 0x2d) at++;
  const first = src.charCodeAt(at);
  if (first === 0x30) at++;
  else if (first >= 0x31 && first <= 0x39) skipDigits();
  else return false;
  if (src.charCodeAt(at) === 0x2e) {
    at++;
    if (!skipDigits()) return false;
  }
  const e = src.charCodeAt(at);
  if (e === 0x65 || e === 0x45) {
    at++;
    const sign = src.charCodeAt(at);
    if (sign === 0x2b || sign === 0x2d) at++;
    if (!skipDigits()) return false;
  }
  return true;
}

/** Past a run of digits; false when there is none. */
function skipDigits(): boolean {
  const start = at;
  for (let c = src.charCodeAt(at); c >= 0x30 && c <= 0x39; c = src.charCodeAt(at)) at++;
  return at > start;
}

function scanObject(depth: number, out: Destination[]): boolean {
  at++;
  skipSpace();
  if (src.charCodeAt(at) === 0x7d) {
    at++;
    return true;
  }
  const base = keyCount;
  let ok = false;
  for (;;) {
    skipSpace();
    if (src.charCodeAt(at) !== 0x22) break;
    const start = ++at;
    if (!skipString()) break;
    const key = src.slice(start, at - 1);
    const c0 = key.charCodeAt(0);
    if ((c0 >= 0x30 && c0 <= 0x39) || keyCount - base === 64) break;
    let seen = false;
    for (let i = base; i < keyCount; i++) if (keyStack[i] === key) seen = true;
    if (seen) break;
    keyStack[keyCount++] = key;
    skipSpace();
    if (src.charCodeAt(at) !== 0x3a) break;
    at++;
    if (!scanValue(key, depth + 1, out)) break;
    skipSpace();
    const c = src.charCodeAt(at++);
    if (c === 0x7d) {
      ok = true;
      break;
    }
    if (c !== 0x2c) break;
  }
  // Not kept alive by the stack, and the next object starts where this one did.
  for (let i = base; i < keyCount; i++) keyStack[i] = '';
  keyCount = base;
  return ok;
}

function scanArray(key: string, depth: number, out: Destination[]): boolean {
  at++;
  skipSpace();
  if (src.charCodeAt(at) === 0x5d) {
    at++;
    return true;
  }
  // walk takes the first 64 items; the rest are only checked for syntax (a depth walk never reaches).
  for (let n = 0; ; n++) {
    if (!scanValue(key, n < 64 ? depth + 1 : Math.max(depth + 1, 7), out)) return false;
    skipSpace();
    const c = src.charCodeAt(at++);
    if (c === 0x5d) return true;
    if (c !== 0x2c) return false;
  }
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
