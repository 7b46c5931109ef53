/**
 * Rate burst: more calls in one minute of event time than this agent ever makes — far above
 * its usual calls per active minute (log-scale mean + 4 sd, and at least `minCalls`).
 *
 * Catches runaway agents and scripted abuse of a stolen agent credential. Minutes that burst are
 * not folded into the baseline, so a sustained attack does not teach itself. Calls that arrive
 * after a later minute has begun are left uncounted (a burst spread over late arrivals is missed,
 * never invented). Fails for agents with legitimately spiky batch work until those spikes are in
 * the baseline (the max decays slowly) — at once when the history `chainwatch learn` read has
 * them: what it learns is normal, spikes included. Fires on every call of a bursting minute; the
 * alert rollup folds them into one.
 *
 * Cost: a counter update per call; ~80 bytes per agent.
 */
import { DecayedStats } from '../src/decayed-stats.js';
import { type CallContext, type Detector, type Finding, clamp, topOfNormal } from './types.js';

export interface RateState {
  minute: number;
  count: number;
  burst: boolean;
  stats: DecayedStats;
}

export function rateBurst(minCalls = 30, minMinutes = 30): Detector<RateState> {
  const limitOf = (s: DecayedStats): number => Math.max(minCalls, 2 * topOfNormal(s), 1.5 * Math.exp(s.max));
  return {
    id: 'rate-burst',
    coldStart: false,
    init: () => ({ minute: -1, count: 0, burst: false, stats: new DecayedStats(2000) }),

    observe(ctx: CallContext, s) {
      const minute = Math.floor(ctx.call.time / 60_000);
      // A call of a minute already closed (calls of concurrent chains, read through Kafka
      // partitions, come out of time order) is not counted into the current one: piled there,
      // hours of late calls made a "burst" of an agent's usual pace.
      if (minute < s.minute) return;
      if (minute > s.minute) {
        if (ctx.learning && s.minute >= 0 && s.count > 0 && !s.burst) s.stats.add(Math.log(s.count));
        s.minute = minute;
        s.count = 0;
        s.burst = false;
      }
      s.count++;
      // Learned history is normal, spikes and all: a minute bursts only under detection.
      if (ctx.detecting && s.stats.n >= minMinutes && s.count > limitOf(s.stats)) s.burst = true;
    },

    scoreCall(ctx: CallContext, s): Finding | undefined {
      if (!s.burst) return undefined;
      const limit = limitOf(s.stats);
      const usual = Math.round(Math.exp(s.stats.mean));
      return {
        detector: 'rate-burst', score: clamp(0.5 + 0.1 * Math.log2(s.count / limit), 0.5, 0.85), signature: 'rate-burst',
        title: 'Call rate burst',
        reason: `${ctx.agent.id} made ${s.count} calls in one minute; it usually makes ~${usual} per active minute (burst limit ${Math.round(limit)})`,
        expected: `≤ ${Math.round(limit)} calls per minute`, observed: `${s.count} calls in the minute`, spanIds: [ctx.call.spanId],
      };
    },

    snapshot: (s) => ({ m: s.minute, c: s.count, b: s.burst, s: s.stats.toJSON() }),
    restore(json) {
      const j = json as { m: number; c: number; b: boolean; s: [number, number, number, number] };
      return { minute: j.m, count: j.c, burst: j.b, stats: DecayedStats.fromJSON(j.s, 2000) };
    },
    bytes: () => 80,
    release: (s) => s.stats.release(),
  };
}
