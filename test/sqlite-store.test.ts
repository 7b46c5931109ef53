/** The embedded event store's writes: large batches in chunks that leave the event loop free between them. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CallRow } from '../src/event-store.js';
import { openDatabase } from '../src/sqlite-db.js';
import { SqliteEventStore } from '../src/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rows(n: number, from = 0): CallRow[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return {
      ts: 1_780_000_000_000 + i, end_ts: 1_780_000_000_010 + i, trace_id: i.toString(16).padStart(32, '0'), span_id: (i + 1).toString(16).padStart(16, '0'),
      agent_id: `agent-${i % 7}`, action: 'GET api.example/x', kind: 'http', tool: '', host: 'api.example', url: '', external: 1, resource: `r${i}`,
      destinations: ['host:api.example'], principal: '', credential: '', ok: 1, status: 200, retries: 0, sensitive: 0, bytes_out: 0,
    };
  });
}

describe('SQLite event store inserts', () => {
  const db = openDatabase(dir);
  const store = new SqliteEventStore(db);
  const count = (): number => (db.prepare('SELECT count(*) AS n FROM calls').get() as { n: number }).n;

  it('writes a large batch whole, serving the event loop between chunks', async () => {
    let turns = 0;
    const timer = setInterval(() => turns++, 0);
    try {
      const before = turns;
      await store.insert('calls', rows(5_500));
      // With one transaction for the batch, no timer could run before the insert resolved.
      expect(turns).toBeGreaterThan(before);
    } finally {
      clearInterval(timer);
    }
    expect(count()).toBe(5_500);
  });

  it('writes a batch again without doubling it (a batch that failed part way is sent again whole)', async () => {
    await store.insert('calls', rows(5_500));
    await store.insert('calls', rows(100, 5_500));
    expect(count()).toBe(5_600);
  });
});
