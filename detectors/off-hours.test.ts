import { describe, expect, it } from 'vitest';
import { defaultDetectorSettings } from './types.js';
import { hourOfWeek, offHours } from './off-hours.js';
import { Harness, T0, DAY_MS, HOUR, mkCall } from '../test/helpers/detector-harness.js';

describe('off-hours', () => {
  it('flags a call at an hour of the week the agent never works, after a week of history', () => {
    const h = new Harness(offHours(defaultDetectorSettings));
    // T0 is Monday 10:00 UTC: work 09-17 on weekdays for three weeks.
    for (let d = 0; d < 21; d++) {
      if ([5, 6].includes(d % 7)) continue;
      for (let k = 0; k < 30; k++) h.learn([mkCall({ time: T0 + d * DAY_MS - HOUR + k * 15 * 60_000 })]);
    }
    const night = T0 + 21 * DAY_MS + 17 * HOUR; // Tuesday 03:00 UTC
    const [f] = h.score([mkCall({ time: night })]);
    expect(f?.reason).toMatch(/acted at Tue 03:00 UTC; 0\.00% of its calls fall near this hour of the day/);
    expect(h.score([mkCall({ time: T0 + 21 * DAY_MS + 2 * HOUR })])[0]).toBeUndefined();
  });

  it('never fires for round-the-clock agents', () => {
    const h = new Harness(offHours(defaultDetectorSettings));
    for (let i = 0; i < 24 * 14; i++) h.learn([mkCall({ time: T0 + i * HOUR }), mkCall({ time: T0 + i * HOUR + 1 })]);
    expect(h.score([mkCall({ time: T0 + 15 * DAY_MS + 7 * HOUR })])[0]).toBeUndefined();
  });
});

describe('off-hours with sparse history', () => {
  it('does not judge single hours of the week it has barely sampled', () => {
    const h = new Harness(offHours(defaultDetectorSettings));
    // A round-the-clock agent with ~1 call an hour for 10 days: most hour-of-week buckets hold 1-2 calls.
    for (let i = 0; i < 24 * 10; i++) h.learn([mkCall({ time: T0 + i * HOUR + (i % 7) * 60_000 })]);
    const quiet = [...Array(24).keys()].map((k) => h.score([mkCall({ time: T0 + 10 * DAY_MS + k * HOUR + 30 * 60_000 })])[0]);
    expect(quiet.every((f) => f === undefined)).toBe(true);
  });
});

describe('hourOfWeek', () => {
  it('agrees with Date on the UTC day and hour, before and after 1970 and across leap days', () => {
    const times = [0, -1, 3_599_999, 3_600_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2026, 10, 29, 0, 0), Date.UTC(1969, 11, 28, 5, 30)];
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      times.push(-2e12 + (x / 2 ** 31) * 6e12 + i * 0.25);
    }
    for (const t of times) {
      const d = new Date(t);
      expect(hourOfWeek(t), String(t)).toBe(d.getUTCDay() * 24 + d.getUTCHours());
    }
  });
});
