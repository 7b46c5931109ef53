/**
 * Off-hours activity: a call in an hour of the week (UTC) in which this agent almost never acts,
 * judged from its decayed hour-of-week histogram (the hour and its neighbours together hold under
 * 0.15% of its calls) once it has a week of history.
 *
 * Catches stolen agent credentials used from another time zone and agents woken outside their
 * schedule. Round-the-clock agents fill the histogram and never fire. Fires once per agent and
 * hour through the alert rollup.
 *
 * Cost: an array update per call; 168 floats (672 bytes) per agent.
 */
import { type CallContext, type Detector, type DetectorSettings, type Finding, DAY } from './types.js';

const HOURS = 168;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

export interface HourState {
  hist: Float32Array;
  total: number;
  decayedAt: number;
}

export function hourOfWeek(t: number): number {
  const d = new Date(t);
  return d.getUTCDay() * 24 + d.getUTCHours();
}

export function offHours(settings: DetectorSettings, minCalls = 300, minDays = 7, threshold = 0.0015): Detector<HourState> {
  return {
    id: 'off-hours',
    coldStart: false,
    init: () => ({ hist: new Float32Array(HOURS), total: 0, decayedAt: 0 }),

    scoreCall(ctx: CallContext, s): Finding | undefined {
      const { call, agent } = ctx;
      if (s.total < minCalls || agent.lastSeen - agent.firstSeen < minDays * DAY) return undefined;
      const h = hourOfWeek(call.time);
      const mass = s.hist[h] + 0.5 * (s.hist[(h + 1) % HOURS] + s.hist[(h + HOURS - 1) % HOURS]);
      const share = mass / s.total;
      if (share >= threshold) return undefined;
      const label = `${DAYS[Math.floor(h / 24)]} ${String(h % 24).padStart(2, '0')}:00 UTC`;
      return {
        detector: 'off-hours', score: 0.35, signature: `off-hours:${h}`,
        title: 'Activity at an unusual hour',
        reason: `${agent.id} acted at ${label}; ${(share * 100).toFixed(2)}% of its calls fall near this hour of the week (busiest: ${busiest(s)})`,
        expected: `activity in its usual hours (${busiest(s)})`, observed: `${call.action.signature} at ${label}`, spanIds: [call.spanId],
      };
    },

    learnCall(ctx: CallContext, s) {
      const t = ctx.call.time;
      if (s.decayedAt === 0) s.decayedAt = t;
      else if (t - s.decayedAt >= DAY) {
        const f = Math.pow(0.5, (t - s.decayedAt) / settings.halfLifeMs);
        for (let i = 0; i < HOURS; i++) s.hist[i] *= f;
        s.total *= f;
        s.decayedAt = t;
      }
      s.hist[hourOfWeek(t)] += 1;
      s.total += 1;
    },

    snapshot: (s) => ({ h: Array.from(s.hist, (x) => Math.round(x * 100) / 100), t: s.total, d: s.decayedAt }),
    restore(json) {
      const j = json as { h: number[]; t: number; d: number };
      return { hist: Float32Array.from(j.h), total: j.t, decayedAt: j.d };
    },
    bytes: () => HOURS * 4 + 80,
  };
}

function busiest(s: HourState): string {
  let best = 0;
  for (let i = 1; i < HOURS; i++) if (s.hist[i] > s.hist[best]) best = i;
  return `${DAYS[Math.floor(best / 24)]} ${String(best % 24).padStart(2, '0')}:00 UTC`;
}
