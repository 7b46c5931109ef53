/**
 * Off-hours activity: a call at a time this agent does not work, judged from its decayed
 * hour-of-week histogram (UTC) once it has a week of history. Two tests, either fires:
 *  - hour of day: the hour and its neighbours, summed over all seven days, hold under 0.2% of
 *    its calls (a 09-17 agent acting at 03:00);
 *  - hour of week, only on a day of the week the agent does not work (the whole day holds under
 *    0.5% of its calls) and when the histogram is dense enough to trust single buckets (≥ 5
 *    calls per bucket on average): the hour and its neighbours hold under 0.15% (a weekday agent
 *    on Sunday).
 *
 * Catches stolen agent credentials used from another time zone and agents woken outside their
 * schedule. Round-the-clock agents fill the histogram and never fire; sparse histograms (few
 * calls per hour of the week) are only judged by hour of day, which avoids "never seen on a
 * Thursday at 05:00" noise. Fires once per agent and hour through the alert rollup.
 *
 * On a day the agent does work, however little, its hours are judged by hour of day alone: each
 * hour-of-week bucket is sampled once a week, so an agent that runs a chain or two on weekends at
 * varying hours read 0.00% for every Saturday hour it had not happened to use yet — on a
 * simulated fleet of 200 agents over 15 days, most of its false positives. Fails (stays quiet)
 * for an attacker who keeps to the agent's hours, or acts at a usual hour on a day the agent
 * works lightly.
 *
 * Cost: an array update per call; 168 fixed-point counts in the shared arena (672 bytes) per
 * agent.
 */
import { NO_WORDS, arena } from '../src/arena.js';
import { type CallContext, type Detector, type DetectorSettings, type Finding, DAY } from './types.js';

const HOURS = 168;
/** Fixed point: counts are stored ×64 in the arena block. */
const ONE = 64;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export interface HourState {
  /** The arena chunk and offset of this agent's 168 fixed-point counts. */
  data: Uint32Array;
  base: number;
  total: number;
  decayedAt: number;
}

const at = (s: HourState, h: number): number => s.data[s.base + h] / ONE;

function newState(): HourState {
  const { data, base } = arena.alloc(HOURS);
  return { data, base, total: 0, decayedAt: 0 };
}

/** UTC hour of the week, Sunday 00:00 = 0. Arithmetic, not a Date per call: 1970-01-01 was a Thursday. */
export function hourOfWeek(t: number): number {
  const hours = Math.floor(t / 3_600_000);
  const day = Math.floor(hours / 24);
  return (((day + 4) % 7) + 7) % 7 * 24 + ((hours % 24) + 24) % 24;
}

/** Share of calls within ±1 h of this hour of day, over every day of the week. */
function dayShare(s: HourState, h: number): number {
  const hod = h % 24;
  let mass = 0;
  for (let day = 0; day < 7; day++) {
    mass += at(s, day * 24 + hod) + 0.5 * (at(s, day * 24 + ((hod + 23) % 24)) + at(s, day * 24 + ((hod + 1) % 24)));
  }
  return mass / s.total;
}

/** Share of calls on the day of the week of this hour, the whole day. */
function dayOfWeekShare(s: HourState, h: number): number {
  const from = h - (h % 24);
  let mass = 0;
  for (let i = from; i < from + 24; i++) mass += at(s, i);
  return mass / s.total;
}

const pct = (share: number): string => `${(share * 100).toFixed(2)}%`;

function weekShare(s: HourState, h: number): number {
  return (at(s, h) + 0.5 * (at(s, (h + 1) % HOURS) + at(s, (h + HOURS - 1) % HOURS))) / s.total;
}

export function offHours(settings: DetectorSettings, minCalls = 300, minDays = 7, dayThreshold = 0.002, weekThreshold = 0.0015, restDayThreshold = 0.005): Detector<HourState> {
  return {
    id: 'off-hours',
    coldStart: false,
    init: newState,

    scoreCall(ctx: CallContext, s): Finding | undefined {
      const { call, agent } = ctx;
      if (s.total < minCalls || agent.lastSeen - agent.firstSeen < minDays * DAY) return undefined;
      const h = hourOfWeek(call.time);
      const byDay = dayShare(s, h);
      let why: string;
      if (byDay < dayThreshold) why = `${pct(byDay)} of its calls fall near this hour of the day`;
      else {
        if (s.total / HOURS < 5) return undefined;
        const byWeek = weekShare(s, h);
        if (byWeek >= weekThreshold) return undefined;
        const day = dayOfWeekShare(s, h);
        if (day >= restDayThreshold) return undefined;
        why = `${pct(byWeek)} of its calls fall near this hour of the week, and ${pct(day)} on ${DAY_NAMES[Math.floor(h / 24)]}s`;
      }
      const label = `${DAYS[Math.floor(h / 24)]} ${String(h % 24).padStart(2, '0')}:00 UTC`;
      return {
        detector: 'off-hours', score: 0.35, signature: `off-hours:${h}`,
        title: 'Activity at an unusual hour',
        reason: `${agent.id} acted at ${label}; ${why} (busiest: ${busiest(s)})`,
        expected: `activity in its usual hours (busiest: ${busiest(s)})`, observed: `${call.action.signature} at ${label}`, spanIds: [call.spanId],
      };
    },

    learnCall(ctx: CallContext, s) {
      const t = ctx.call.time;
      if (s.decayedAt === 0) s.decayedAt = t;
      else if (t - s.decayedAt >= DAY) {
        const f = Math.pow(0.5, (t - s.decayedAt) / settings.halfLifeMs);
        const { data, base } = s;
        for (let i = base; i < base + HOURS; i++) data[i] = Math.round(data[i] * f);
        s.total *= f;
        s.decayedAt = t;
      }
      s.data[s.base + hourOfWeek(t)] += ONE;
      s.total += 1;
    },

    snapshot: (s) => ({ h: Array.from({ length: HOURS }, (_, i) => at(s, i)), t: s.total, d: s.decayedAt }),
    restore(json) {
      const j = json as { h: number[]; t: number; d: number };
      const s = newState();
      j.h.forEach((v, i) => (s.data[s.base + i] = Math.round(v * ONE)));
      s.total = j.t;
      s.decayedAt = j.d;
      return s;
    },
    bytes: () => HOURS * 4 + 56,
    release(s) {
      if (s.data !== NO_WORDS) arena.release({ data: s.data, base: s.base, words: HOURS });
      s.data = NO_WORDS;
      s.base = 0;
    },
  };
}

function busiest(s: HourState): string {
  let best = 0;
  for (let i = 1; i < HOURS; i++) if (at(s, i) > at(s, best)) best = i;
  return `${DAYS[Math.floor(best / 24)]} ${String(best % 24).padStart(2, '0')}:00 UTC`;
}
