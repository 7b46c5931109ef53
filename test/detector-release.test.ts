/**
 * Every detector gives back the arena words its state holds when the engine drops an agent or a
 * peer group: a detector that keeps a table and forgets to release it fails here, not in
 * production as memory that grows with every agent ever seen.
 */
import { describe, expect, it } from 'vitest';
import { arena } from '../src/arena.js';
import { builtinDetectors, defaultDetectorSettings } from '../detectors/index.js';
import { Harness, HOUR, T0, mkCall } from './helpers/detector-harness.js';

describe('detector release', () => {
  for (const det of builtinDetectors(defaultDetectorSettings)) {
    it(`${det.id}: releasing a learned state and peer state returns every arena word they took`, () => {
      const before = arena.liveWords;
      const h = new Harness(det);
      // Enough distinct hosts, tools, principals, credentials and hours to grow every table.
      for (let i = 0; i < 60; i++) {
        const host = `host${i}.corp.internal`;
        h.learn([
          mkCall({ time: T0 + i * HOUR, host, sig: `GET ${host}/a`, tool: `tool${i}`, principal: `user${i}`, credential: `key-${i}` }),
          mkCall({ time: T0 + i * HOUR + 1000, host, sig: `POST ${host}/b/${i}`, tool: `tool${i}`, principal: `user${i}` }),
        ]);
      }
      det.release?.(h.state);
      if (h.peerState !== undefined) det.releasePeer?.(h.peerState);
      expect(arena.liveWords).toBe(before);
    });
  }
});
