/**
 * Globs of policies and normalization, several compiled into one alternation: each must keep
 * its own anchors, so one glob's pattern never leaks into another's.
 */
import { describe, expect, it } from 'vitest';
import { actionMatcher, globMatcher } from '../src/glob.js';

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
});
