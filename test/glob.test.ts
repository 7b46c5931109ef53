/**
 * Globs of policies and normalization, several compiled into one alternation: each must keep
 * its own anchors, so one glob's pattern never leaks into another's.
 */
import { describe, expect, it } from 'vitest';
import picomatch from 'picomatch';
import { actionMatcher, globMatcher } from '../src/glob.js';
import { rng } from './helpers/rng.js';

describe('globMatcher', () => {
  it('matches any of its globs, whole subjects only, case-insensitively', () => {
    const m = globMatcher(['*.corp.internal', 'localhost', '{api,www}.stripe.com']);
    expect(['a.corp.internal', 'LOCALHOST', 'api.stripe.com', 'WWW.Stripe.com'].map(m)).toEqual([true, true, true, true]);
    expect(['corp.internal.evil.io', 'localhost.evil.io', 'evil-localhost', 'x.api.stripe.com', 'stripe.com'].map(m)).toEqual([false, false, false, false, false]);
  });

  it('keeps `*` within one path segment', () => {
    const m = globMatcher(['*secret*', 'repos/*']);
    expect(m('get_secret_value')).toBe(true);
    expect(m('repos/a')).toBe(true);
    expect(m('repos/a/b')).toBe(false);
  });

  it('answers the same from its memo as on first sight, past its bound', () => {
    const m = globMatcher(['h1*', 'h2*'], 4);
    const subjects = Array.from({ length: 20 }, (_, i) => `h${i % 4}.example`);
    expect(subjects.map(m)).toEqual(subjects.map(m));
    expect(subjects.map(m).filter(Boolean)).toHaveLength(10);
  });
});

describe('actionMatcher', () => {
  it('lets `*` cross slashes in action signatures', () => {
    const m = actionMatcher(['POST *.corp.internal/**/admin/**', 'DELETE *']);
    expect(m('POST hr.corp.internal/v1/admin/users')).toBe(true);
    expect(m('DELETE tickets.corp.internal/api/tickets/{id}')).toBe(true);
    expect(m('GET hr.corp.internal/v1/admin/users')).toBe(false);
    expect(m('POST hr.corp.internal/v1/users')).toBe(false);
  });

  it('answers as picomatch\'s patterns do, for literal globs (a substring test) and others alike, on 30,000 generated subjects', () => {
    const r = rng(17);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
    const WORDS = ['secret', 'PayRoll', 'pii', 'ssn', 'vault', 'a.b', 'x-y', 'k:v', 'get_', '.', '..', 'K', '.x', 'x.', 'a..b', '-', '_', ':'];
    const literal = (): string => {
      const w = pick(WORDS);
      return pick([`*${w}*`, `*${w}`, `${w}*`, w]);
    };
    const OTHER = ['POST *.corp.internal/**/admin/**', 'DELETE *', '*se?ret*', '{get,put}_*', '*/v1/*', '**'];
    const PIECES = ['x.', '.x', 'a..b', 'GET ', 'POST ', 'api.example.com', '/v1/', 'secret', 'SECRET', 'Secret', 'pay', 'roll', 'PAYROLL', 'pii', 'ssn', 'vault', 'a.b', 'x-y', 'k:v', 'get_', '.', '..', '/', '\u212a', 'ſecret', 'İ', 'é', ' ', 'admin'];
    for (let i = 0; i < 300; i++) {
      const globs = Array.from({ length: 1 + Math.floor(r() * 4) }, () => (r() < 0.8 ? literal() : pick(OTHER)));
      const ours = actionMatcher(globs, 0);
      const res = globs.map((g) => picomatch.makeRe(g.replaceAll('/', '\u0001'), { nocase: true, dot: true }));
      for (let j = 0; j < 100; j++) {
        let subject = '';
        for (let k = Math.floor(r() * 5); k >= 0; k--) subject += pick(PIECES);
        const want = res.some((re) => re.test(subject.replaceAll('/', '\u0001')));
        expect(ours(subject), `${JSON.stringify(globs)} on ${JSON.stringify(subject)}`).toBe(want);
      }
    }
  });
});
