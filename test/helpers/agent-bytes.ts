/** What an agent's baseline costs in memory, measured: the bench reports it, a test holds it. */
import { arena } from '../../src/arena.js';
import { Engine, type EngineConfig } from '../../src/engine.js';
import { fleetCall } from './fleet-calls.js';

/**
 * Heap + arena bytes per agent for `n` agents learning 60 chains of six calls each (`saturate`:
 * every table filled to its cap), beside the engine's own estimate (agentBytes). `gc` is a full
 * collection (node --expose-gc's, or one reached through the vm module).
 */
export function bytesPerAgent(config: EngineConfig, n: number, saturate: boolean, gc: () => void): { measured: number; estimated: number } {
  const engine = new Engine(config);
  engine.mode = 'learn';
  let seq = 0;
  const T0 = Date.UTC(2026, 5, 1);
  const load = (from: number, to: number): void => {
    for (let a = from; a < to; a++) {
      for (let c = 0; c < 60; c++) {
        const t = T0 + c * 5 * 3_600_000;
        const traceId = (a * 1000 + c + 1).toString(16).padStart(32, '0');
        for (let j = 0; j < 6; j++) engine.ingestCall(fleetCall(a, c * 6 + j, t + j * 1000, traceId, (++seq).toString(16).padStart(16, '0'), saturate));
      }
    }
    engine.flush();
  };
  load(0, 300); // warm-up: interner, peer group, the assembler's bounded map of closed traces
  gc();
  gc();
  const before = process.memoryUsage().heapUsed + arena.liveWords * 4;
  load(300, 300 + n);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed + arena.liveWords * 4;
  const agents = [...engine.agents.values()].slice(300);
  return { measured: (after - before) / n, estimated: agents.reduce((s, a) => s + engine.agentBytes(a), 0) / agents.length };
}
