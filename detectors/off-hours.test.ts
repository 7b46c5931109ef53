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

describe('off-hours by hour of the week', () => {
  /**
   * Three weeks from T0 (Monday 10:00 UTC): weekdays 09-17, 120 calls a day (a dense histogram);
   * on weekends, when `weekendHour` says, 8 calls at that hour of each Saturday and Sunday.
   */
  function weekdayAgent(weekendHour?: (week: number) => number): Harness<unknown> {
    const h = new Harness(offHours(defaultDetectorSettings));
    for (let d = 0; d < 21; d++) {
      const day = T0 - 10 * HOUR + d * DAY_MS;
      if (d % 7 < 5) for (let k = 0; k < 120; k++) h.learn([mkCall({ time: day + 9 * HOUR + k * 4 * 60_000 })]);
      else if (weekendHour) for (let k = 0; k < 8; k++) h.learn([mkCall({ time: day + weekendHour(Math.floor(d / 7)) * HOUR + k * 60_000 })]);
    }
    return h;
  }
  const saturday = (hour: number): number => T0 - 10 * HOUR + 26 * DAY_MS + hour * HOUR;

  it('flags an agent that never works weekends acting on a Saturday, at an hour it works on weekdays', () => {
    const h = weekdayAgent();
    const [f] = h.score([mkCall({ time: saturday(10) })]);
    expect(f?.reason).toMatch(/acted at Sat 10:00 UTC; 0\.00% of its calls fall near this hour of the week, and 0\.00% on Saturdays/);
    expect(h.score([mkCall({ time: saturday(10) - 2 * DAY_MS })])[0]).toBeUndefined(); // Thursday 10:00
  });

  it('judges a day the agent works, however lightly, by hour of day: a weekend hour it has not used yet is not flagged', () => {
    // Weekend chains at 10:00, 13:00 and 16:00 in the three weeks: no Saturday 08:00 yet, but weekends are worked.
    const h = weekdayAgent((week) => 10 + 3 * week);
    expect(h.score([mkCall({ time: saturday(8) })])[0]).toBeUndefined();
    // Still flagged: an hour of the day it never works, on any day.
    expect(h.score([mkCall({ time: saturday(3) })])[0]?.reason).toMatch(/of the day/);
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
