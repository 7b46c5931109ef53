/**
 * Destinations in tool arguments. The scan skips each pattern when a cheap necessary condition
 * fails ("://", "@", length); it is checked against the plain formulation that tests every
 * pattern on every string, on generated arguments of every destination kind.
 */
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT_KEY, CHANNEL_KEY, DOMAIN_KEY, DOMAIN_RE, EMAIL_RE, IBAN_RE, URL_RE, USER_KEY, type Destination, type DestinationKind, argDestinations,
} from '../src/arg-destinations.js';
import { rng } from './helpers/rng.js';


/** Every pattern on every string (the formulation the prefilters replaced), same walk and bounds. */
function reference(value: unknown): Destination[] {
  const out: Destination[] = [];
  const seen = new Set<string>();
  const add = (kind: DestinationKind, v: string): void => {
    const val = kind === 'account' ? v : v.toLowerCase();
    if (out.length < 16 && !seen.has(`${kind}:${val}`)) {
      seen.add(`${kind}:${val}`);
      out.push({ kind, value: val });
    }
  };
  const scan = (s: string, key: string): void => {
    for (const m of s.matchAll(URL_RE)) add('host', m[1]);
    for (const m of s.matchAll(EMAIL_RE)) {
      add('email', m[0]);
      add('email-domain', m[1]);
    }
    const t = s.trim();
    const compact = t.replace(/\s+/g, '');
    if (IBAN_RE.test(compact) || (ACCOUNT_KEY.test(key) && /^[A-Z0-9-]{6,34}$/i.test(compact))) add('account', compact.toUpperCase());
    if (t.startsWith('#') && /^#[\w.-]{1,80}$/.test(t)) add('channel', t);
    else if (CHANNEL_KEY.test(key) && /^[\w#.-]{1,80}$/.test(t)) add('channel', t.startsWith('#') ? t : `#${t}`);
    if (t.startsWith('@') && /^@[\w.-]{1,80}$/.test(t)) add('user', t);
    else if (USER_KEY.test(key) && /^[\w.-]{1,80}$/.test(t) && !t.includes('@')) add('user', `@${t}`);
    if (DOMAIN_KEY.test(key) && DOMAIN_RE.test(t)) add('domain', t);
  };
  const walk = (v: unknown, key: string, depth: number): void => {
    if (depth > 6) return;
    if (typeof v === 'string') scan(v.length > 2048 ? v.slice(0, 2048) : v, key);
    else if (Array.isArray(v)) for (const item of v.slice(0, 64)) walk(item, key, depth + 1);
    else if (v !== null && typeof v === 'object') for (const [k, item] of Object.entries(v).slice(0, 64)) walk(item, k, depth + 1);
  };
  walk(value, '', 0);
  return out;
}

const KEYS = ['url', 'to', 'iban', 'account_number', 'channel', 'room', 'user', 'assignee', 'domain', 'hostname', 'body', 'note', 'q'];
const VALUES = [
  'https://paste-drop.io/x', 'see http://10.0.0.7:8080/a and https://api.stripe.com', 'bob@evil-mail.net', 'mail a@b.co, c@d.org',
  'GB29 NWBK 6016 1331 9268 19', 'GB29NWBK60161331926819', 'ACC-123456', '12-34', '#deploys', 'random', '@alice', 'alice', 'bob@x.io',
  'evil.example', 'localhost', 'plain text', '', '   ', 'DE89370400440532013000', 'x'.repeat(3000) + ' https://late.example',
];

describe('argDestinations', () => {
  it('agrees with testing every pattern on every string, on 3,000 generated argument objects', () => {
    const r = rng(5);
    const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
    for (let i = 0; i < 3_000; i++) {
      const args: Record<string, unknown> = {};
      for (let j = 0; j < 1 + Math.floor(r() * 4); j++) args[pick(KEYS)] = r() < 0.2 ? [pick(VALUES), { [pick(KEYS)]: pick(VALUES) }] : pick(VALUES);
      // Now and then past the bounds: more than 64 items or keys, more than 16 destinations.
      // (a destination in the items past the 64th, which the bound must drop)
      if (r() < 0.05) args.many = Array.from({ length: 70 }, (_, k) => (k >= 60 || r() < 0.1 ? `u${k}@host${k}.example` : 'plain text'));
      if (r() < 0.05) args.wide = Object.fromEntries(Array.from({ length: 70 }, (_, k) => [`${pick(KEYS)}_${k}`, k >= 60 || r() < 0.1 ? `https://h${k}.example/` : 'plain']));
      const asJson = r() < 0.5;
      expect(argDestinations(asJson ? JSON.stringify(args) : (args as never)), JSON.stringify(args)).toEqual(reference(args));
    }
  });

  it('names hosts, email domains, accounts, channels and users', () => {
    const d = argDestinations(JSON.stringify({ url: 'https://paste-drop.io/x', to: 'bob@evil-mail.net', iban: 'GB29 NWBK 6016 1331 9268 19', channel: 'deploys', assignee: 'alice' }));
    expect(d.map((x) => `${x.kind}:${x.value}`)).toEqual([
      'host:paste-drop.io', 'email:bob@evil-mail.net', 'email-domain:evil-mail.net', 'account:GB29NWBK60161331926819', 'channel:#deploys', 'user:@alice',
    ]);
  });
});
