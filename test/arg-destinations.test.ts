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

  it('reads a JSON text as JSON.parse and the walk would, on 20,000 generated and mangled texts', () => {
    const r = rng(11);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
    const space = (): string => (r() < 0.7 ? '' : pick([' ', '\n', '\t', '\r\n ', '  ']));
    const NUMBERS = ['0', '-0', '12', '-3.25', '1e9', '2E-3', '0.5e+2', '01', '1.', '.5', '-', '+1', '1e', 'NaN', '0x1f'];
    const KEYS2 = [...KEYS, '1', '0x', '9lives', '', 'to_user', '__proto__', 'ROOM', 'a\\"b', 'k\\u0041'];
    const VALUES2 = [...VALUES, 'tab\\there', 'quote\\"d https://q.example', '\\u0068ttps://esc.example', 'ctl\u0001x', '#ok', '@bob'];
    // A value as text: mostly well-formed JSON, with the generator's own spacing and number forms.
    const text = (depth: number): string => {
      const x = r();
      if (depth > 9 || x < 0.45) return `"${pick(VALUES2)}"`;
      if (x < 0.55) return pick(NUMBERS);
      if (x < 0.6) return pick(['true', 'false', 'null', 'tru', 'nul']);
      // Past the walk's bounds now and then (70 items or keys), near the top: wide and deep would not end.
      const n = depth <= 2 && r() < 0.03 ? 70 : Math.floor(r() * (depth < 4 ? 4 : 2));
      if (x < 0.8) {
        return `[${space()}${Array.from({ length: n }, () => text(depth + 1)).join(`${space()},${space()}`)}${space()}]`;
      }
      const keys = Array.from({ length: n }, (_, i) => (r() < 0.1 ? `${pick(KEYS2)}_${i}` : pick(KEYS2)));
      return `{${space()}${keys.map((k) => `"${k}"${space()}:${space()}${text(depth + 1)}`).join(`${space()},${space()}`)}${space()}}`;
    };
    const mangle = (t: string): string => {
      const at = Math.floor(r() * (t.length + 1));
      switch (Math.floor(r() * 4)) {
        case 0: return t.slice(0, at);
        case 1: return t.slice(0, at) + pick([',', '"', '}', ']', '{', ':', ' ', '\u00a0', 'x']) + t.slice(at);
        case 2: return t.slice(0, at) + t.slice(at + 1);
        default: return `${space()}${t}${space()},`;
      }
    };
    /** The formulation the scan stands in for: JSON.parse of the trimmed text, else the text as a string. */
    const parsed = (args: string): Destination[] => {
      let value: unknown = args;
      try {
        value = JSON.parse(args.trim());
      } catch {
        // not JSON: scanned as one string
      }
      return reference(value);
    };
    let scanned = 0;
    for (let i = 0; i < 20_000; i++) {
      const top = r() < 0.5 ? '{' : '[';
      let t = top === '{' ? `{"${pick(KEYS2)}":${text(1)}${r() < 0.5 ? `,"${pick(KEYS2)}":${text(1)}` : ''}}` : `[${text(1)},${text(1)}]`;
      t = space() + t + space();
      if (r() < 0.3) t = mangle(t);
      if (!/^\s*[[{]/.test(t)) continue;
      scanned++;
      expect(argDestinations(t), t).toEqual(parsed(t));
    }
    expect(scanned).toBeGreaterThan(15_000);
  });

  it('takes JSON nested deeper than the scan follows, and wider than the walk reads', () => {
    const deep = `${'['.repeat(200_000)}"https://deep.example"${']'.repeat(200_000)}`;
    expect(argDestinations(deep)).toEqual([]);
    const shallow = `${'['.repeat(6)}"https://six.example"${']'.repeat(6)}`;
    expect(argDestinations(shallow).map((d) => d.value)).toEqual(['six.example']);
    const wide = JSON.stringify({ list: Array.from({ length: 200 }, (_, k) => (k === 63 || k === 64 ? `https://item${k}.example` : [k, { u: 'plain' }])) });
    expect(argDestinations(wide)).toEqual(reference(JSON.parse(wide)));
    expect(argDestinations(wide).map((d) => d.value)).toContain('item63.example');
    expect(argDestinations(wide).map((d) => d.value)).not.toContain('item64.example');
    const keys = JSON.stringify(Object.fromEntries(Array.from({ length: 65 }, (_, k) => [`k${k}`, k >= 63 ? `https://key${k}.example` : 'plain'])));
    expect(argDestinations(keys).map((d) => d.value)).toEqual(['key63.example']);
  });

  it('names hosts, email domains, accounts, channels and users', () => {
    const d = argDestinations(JSON.stringify({ url: 'https://paste-drop.io/x', to: 'bob@evil-mail.net', iban: 'GB29 NWBK 6016 1331 9268 19', channel: 'deploys', assignee: 'alice' }));
    expect(d.map((x) => `${x.kind}:${x.value}`)).toEqual([
      'host:paste-drop.io', 'email:bob@evil-mail.net', 'email-domain:evil-mail.net', 'account:GB29NWBK60161331926819', 'channel:#deploys', 'user:@alice',
    ]);
  });
});
