/** chainwatch traces its own slow paths, and never ingests them — even when they are sent to itself. */
import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Service } from '../src/service.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('self-telemetry', () => {
  it('exports traces of its snapshot over OTLP, and drops them when they come back', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'chainwatch-self-'));
    const service = new Service({
      stateDir: dir, receiver: { port }, shutdownDeadlineMs: 1000,
      telemetry: {
        prometheus: { enabled: false, host: '127.0.0.1', port: 0 },
        otlp: { enabled: true, endpoint: `http://127.0.0.1:${port}/v1/metrics`, intervalMs: 60_000, headers: {}, traces: true },
      },
    });
    try {
      await service.start();
      service.snapshot();
      await service.telemetry!.flush();
      const deadline = Date.now() + 5000;
      while (service.engine.stats.selfSpansDropped === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(service.engine.stats.selfSpansDropped).toBeGreaterThan(0);
      expect(service.receiver.counters.spansAccepted).toBeGreaterThan(0);
      expect(service.engine.stats.calls).toBe(0);
      expect(service.engine.agents.size).toBe(0);
    } finally {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
