/**
 * `npm run bench:store`: batched insert throughput of calls into the event stores, on this
 * machine, in one run. Starts its own ClickHouse (deploy/clickhouse.sh, Debian's release) on
 * 127.0.0.1:18140 in a temporary directory, and a SQLite file beside it. Rows are real CallRows:
 * a simulated fleet's calls through the engine, repeated with fresh trace ids, each copy later in time, up to N rows.
 * Each store is fed the way the StoreWriter feeds it: one batch in flight at a time, the time
 * includes JSON encoding in the client. Not pinned: the server needs the other core.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseEventStore, defaultClickHouseConfig } from '../../src/clickhouse-store.js';
import { Engine } from '../../src/engine.js';
import { type CallRow, callRow } from '../../src/event-store.js';
import { decodeTraceRequestJson } from '../../src/otlp-json.js';
import { packagePath } from '../../src/package-path.js';
import { simulate } from '../../src/simulate.js';
import { openDatabase } from '../../src/sqlite-db.js';
import { SqliteEventStore } from '../../src/sqlite-store.js';
import { median } from '../helpers/bench.js';

const N = Number(process.env.BENCH_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BATCHES = [50_000, 100_000, 200_000];


function rows(): CallRow[] {
  const engine = new Engine();
  const base: CallRow[] = [];
  engine.setRecorder({ call: (c) => base.push(callRow(c)), chain: () => {} });
  const sim = simulate({ seed: 5, agentsPerRole: 20, historyDays: 2, liveDays: 0, chainsPerAgentDay: 15 });
  for (const doc of sim.history) engine.ingestSpans(decodeTraceRequestJson(doc, engine.norm.filter).spans);
  engine.flush();
  // Each copy comes after the one before in time, as a live stream does: rows that went back to
  // the start of the history for every copy would land all over a time-ordered index.
  const first = base.reduce((m, r) => Math.min(m, r.ts), Infinity);
  const last = base.reduce((m, r) => Math.max(m, r.end_ts), -Infinity);
  const days = Math.ceil((last - first + 1) / 86_400_000);
  const out: CallRow[] = [];
  for (let copy = 0; out.length < N; copy++) {
    const shift = copy * days * 86_400_000;
    for (const r of base) {
      if (out.length >= N) break;
      out.push({ ...r, ts: r.ts + shift, end_ts: r.end_ts + shift, trace_id: `${copy.toString(16).padStart(8, '0')}${r.trace_id.slice(8)}` });
    }
  }
  return out;
}

async function feed(insert: (rows: object[]) => Promise<void>, data: CallRow[], batch: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < data.length; i += batch) await insert(data.slice(i, i + batch));
  return data.length / ((performance.now() - t0) / 1000);
}

const k = (x: number): string => `${Math.round(x / 1000)}k`;

async function main(): Promise<void> {
  const data = rows();
  const dir = mkdtempSync(join(tmpdir(), 'chainwatch-bench-store-'));
  const env = { ...process.env, CLICKHOUSE_DIR: join(dir, 'clickhouse'), CLICKHOUSE_PORT: '18140' };
  const script = packagePath('deploy', 'clickhouse.sh');
  execFileSync('bash', [script, 'start'], { env, stdio: 'inherit' });
  const store = (insertParallelism: number): ClickHouseEventStore =>
    new ClickHouseEventStore({ ...defaultClickHouseConfig, url: 'http://127.0.0.1:18140', database: 'bench', requestTimeoutMs: 120_000, insertParallelism }, { calls: 7 * 86_400_000, chains: 7 * 86_400_000, alerts: 7 * 86_400_000 });
  const ch = store(1);
  const ch2 = store(2);
  try {
    await ch.init();
    await ch2.init();
    const sqlite = new SqliteEventStore(openDatabase(join(dir, 'sqlite')));
    const bytes = Buffer.byteLength(data.slice(0, 1000).map((r) => JSON.stringify(r)).join('\n')) / 1000;
    process.stdout.write(`${data.length.toLocaleString('en')} call rows (~${Math.round(bytes)} B a row as JSON), ClickHouse ${ch.dialect.version}, ${ROUNDS} rounds, median rows/s\n\n`);
    process.stdout.write('| store | batch rows | rows/s | ratio to SQLite |\n|---|---|---|---|\n');
    for (const batch of BATCHES) {
      const rates: number[][] = [[], [], []];
      for (let round = 0; round < ROUNDS; round++) {
        await ch.client.command({ query: 'TRUNCATE TABLE bench.calls' });
        rates[0].push(await feed((r) => ch.insert('calls', r), data, batch));
        await ch.client.command({ query: 'TRUNCATE TABLE bench.calls' });
        rates[1].push(await feed((r) => ch2.insert('calls', r), data, batch));
        sqlite.db.exec('DELETE FROM call_blocks');
        rates[2].push(await feed((r) => sqlite.insert('calls', r), data, batch));
      }
      const [c1, c2, s] = rates.map(median);
      const b = batch.toLocaleString('en');
      process.stdout.write(`| ClickHouse, 1 request per batch | ${b} | ${k(c1)} | ${(c1 / s).toFixed(2)} |\n| ClickHouse, 2 concurrent requests per batch (default) | ${b} | ${k(c2)} | ${(c2 / s).toFixed(2)} |\n| SQLite | ${b} | ${k(s)} | 1.00 |\n`);
    }
    const n = await ch.count('calls');
    process.stdout.write(`\nrows in ClickHouse after the last round: ${n.toLocaleString('en')} (expected ${data.length.toLocaleString('en')})\n`);
    sqlite.db.close();
  } finally {
    await ch.close();
    await ch2.close();
    execFileSync('bash', [script, 'stop'], { env, stdio: 'inherit' });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
