/**
 * A running service saves its state by agent every `snapshotEveryMs`; a save that fails (the
 * disk, the database) is reported in /status and retried by the next, and the service keeps
 * serving meanwhile.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Service } from '../src/service.js';
import { StateStore } from '../src/state-store.js';
import { agentTrace } from './helpers/spans.js';
import { until } from './helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-save-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('service state saves', () => {
  it('saves changed agents while serving, and survives a save that fails', async () => {
    const service = new Service({ stateDir: dir, receiver: { port: 0 }, snapshotEveryMs: 100 });
    const base = await service.start();
    const post = async (agentId: string, t0: number): Promise<number> => {
      const { doc } = agentTrace({ t0, agentId, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }] });
      return (await fetch(`${base}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) })).status;
    };
    const saved = (): string[] => {
      const s = new StateStore(dir);
      const ids = (s.db.prepare('SELECT id FROM agent_state ORDER BY id').all() as { id: string }[]).map((r) => r.id);
      s.close();
      return ids;
    };
    const lastSave = async (): Promise<Record<string, unknown> | null> => ((await (await fetch(`${base}/status`)).json()) as { stateSave: Record<string, unknown> | null }).stateSave;
    try {
      const t = Date.UTC(2026, 5, 1, 10);
      expect(await post('agent-a', t)).toBe(200);
      await until(() => saved().includes('agent-a'));
      // The database refuses agent rows for a while: saves fail, the service goes on.
      const other = new StateStore(dir);
      other.db.exec('CREATE TRIGGER refuse BEFORE INSERT ON agent_state BEGIN SELECT RAISE(ABORT, \'disk I/O error\'); END;');
      expect(await post('agent-b', t + 60_000)).toBe(200);
      await until(async () => String((await lastSave())?.error ?? '').includes('disk I/O error'));
      expect(await post('agent-c', t + 120_000)).toBe(200);
      other.db.exec('DROP TRIGGER refuse');
      other.close();
      // The next save writes what the failed ones had taken.
      await until(() => ['agent-a', 'agent-b', 'agent-c'].every((id) => saved().includes(id)));
      expect(await lastSave()).toMatchObject({ deleted: 0 });
    } finally {
      await service.stop();
    }
  }, 30_000);
});
