/**
 * An agent's baseline stays within its memory budget: ≤ 4 KB for a typical agent (8 hosts,
 * 8 actions, 5 tools, 3 principals), measured on the V8 heap and the arena as `npm run bench`
 * measures it. A representation that looks alike and costs more — an array grown by push keeps
 * room for 17 numbers — shows here once it crosses the budget, not only when someone runs the
 * bench (3.4–3.6 KB measured here with 1,000 agents; the bench, with 3,000, 3.7 KB).
 */
import { describe, expect, it } from 'vitest';
import { gc } from './helpers/gc.js';
import { defaultEngineConfig } from '../src/engine.js';
import { bytesPerAgent } from './helpers/agent-bytes.js';
import { SHORT_LIFECYCLE } from './helpers/learned.js';

const config = { ...defaultEngineConfig, lifecycle: SHORT_LIFECYCLE };

describe('memory per agent baseline', () => {
  it("a typical agent costs under 4 KB, and the engine's estimate does not overstate it", () => {
    const typical = bytesPerAgent(config, 1000, false, gc);
    expect(typical.measured).toBeLessThan(4096);
    expect(typical.estimated).toBeLessThanOrEqual(typical.measured);
  }, 60_000);
});
