/**
 * `npm run bench:serve`: what one `chainwatch serve` process on its embedded default takes over
 * OTLP/HTTP — the receiver, the whole hot path, alerts to their file and the SQLite event store
 * recording every call — on the Kafka bench's fleet (twelve live days, 338,250 spans), so the two
 * deployments compare on the same traffic. The service runs as a process of its own from a
 * learned state directory, as deployed; this process sends the fleet's OTLP protobuf requests
 * (≥ 100 spans each) with `BENCH_CONCURRENCY` (default 4) in flight over keep-alive connections,
 * retrying what the receiver refuses under backpressure. Timed from the first request until the
 * last response (the engine has taken every span), and until the event store holds every call.
 * Run twice: recording calls (the default) and with `store: { record_calls: false }`. Both
 * processes share the machine's 2 cores; each one's CPU time is printed.
 * CHAINWATCH_BENCH_SERVE_ARGS passes node flags to the service (e.g. --cpu-prof).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../../src/alerts.js';
import { evaluate } from '../../src/evaluate.js';
import { simulate } from '../../src/simulate.js';
import { toBatches } from '../helpers/batches.js';
import { type ServeProcess, selfCpuMs, startServe, waitFor } from '../helpers/bench.js';
import { learnInto } from '../helpers/learned.js';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);

interface Run { name: string; acceptedMs: number; storedMs: number; serveCpuMs: number; senderCpuMs: number; refused: number; calls: number; alerts: Alert[] }

/** POST one body; resolves with the status (node:http over a keep-alive agent: fetch cost the sender ~1.3 ms of CPU a request). */
function post(agent: Agent, url: URL, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: url.hostname, port: url.port, path: '/v1/traces', method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Send every request, `CONCURRENCY` at a time; a refused one (429/503) waits and goes again. Returns how many were refused. */
async function send(base: string, bufs: Uint8Array[]): Promise<number> {
  const url = new URL(base);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  let refused = 0;
  const worker = async (): Promise<void> => {
    while (next < bufs.length) {
      const b = bufs[next++];
      const body = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      for (;;) {
        const status = await post(agent, url, body);
        if (status === 200) break;
        if (status !== 429 && status !== 503) throw new Error(`receiver answered ${status}`);
        refused++;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
  return refused;
}

async function run(dir: string, name: string, learned: string, bufs: Uint8Array[], recording: boolean): Promise<Run> {
  const state = join(dir, name);
  cpSync(learned, state, { recursive: true });
  const serve: ServeProcess = await startServe(join(dir, `${name}.yaml`), [
    `state_dir: ${state}`, 'receiver: { port: 0 }', 'telemetry: { prometheus: { enabled: false } }', 'api: { enabled: false }', ...(recording ? [] : ['store: { record_calls: false }']),
  ], process.env.CHAINWATCH_BENCH_SERVE_ARGS?.split(' ') ?? []);
  try {
    const cpu0 = serve.cpuMs();
    const self0 = selfCpuMs();
    const t0 = performance.now();
    const refused = await send(serve.url, bufs);
    const acceptedMs = performance.now() - t0;
    const senderCpuMs = selfCpuMs() - self0;
    const st = await serve.status();
    const calls = st.engine.calls as number;
    await waitFor(async () => (!recording || (await serve.status()).store.rowsWritten.calls >= calls ? true : undefined), 10);
    const storedMs = performance.now() - t0;
    const serveCpuMs = serve.cpuMs() - cpu0;
    const alerts = readFileSync(join(state, 'alerts.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Alert);
    return { name, acceptedMs, storedMs, serveCpuMs, senderCpuMs, refused, calls, alerts };
  } finally {
    serve.kill();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chainwatch-bench-serve-'));
  try {
    const sim = simulate({ seed: 7, agentsPerRole: 40, historyDays: 3, liveDays: Number(process.env.BENCH_LIVE_DAYS ?? 12), attacksPerClass: 5, chainsPerAgentDay: 15 });
    const { bufs, spans } = toBatches(sim.live, 100);
    const learned = join(dir, 'learned');
    const agents = learnInto(learned, sim.history).agents.size;
    const labels = sim.labels;
    process.stderr.write(`simulated ${spans} spans in ${bufs.length} requests, ${agents} agents learned; sending…\n`);
    const runs = [
      await run(dir, 'recording', learned, bufs, true),
      await run(dir, 'no-calls', learned, bufs, false),
    ];
    const k = (ms: number): string => `${Math.round(spans / (ms / 1000) / 1000)}k`;
    process.stdout.write(`${spans.toLocaleString('en')} spans in ${bufs.length} OTLP protobuf requests, ${CONCURRENCY} in flight; ${agents} agents learned first\n\n`);
    process.stdout.write('| run | spans/s, until the last response | spans/s, until the store has every call | serve CPU s | sender CPU s | serve CPU µs per span | refused (429/503) |\n|---|---|---|---|---|---|---|\n');
    for (const r of runs) {
      const label = r.name === 'recording' ? 'embedded default: SQLite records every call' : 'store.record_calls: false (chains and alerts still stored)';
      process.stdout.write(`| ${label} | ${k(r.acceptedMs)} | ${r.name === 'recording' ? k(r.storedMs) : '—'} | ${(r.serveCpuMs / 1000).toFixed(1)} | ${(r.senderCpuMs / 1000).toFixed(1)} | ${Math.round((r.serveCpuMs * 1000) / spans)} | ${r.refused} |\n`);
    }
    const v = evaluate(labels, runs[0].alerts);
    process.stdout.write(`\ncalls ${runs[0].calls}; the recording run's alerts against the labels: ${v.overall.detected} of ${v.overall.attacks} attacks found, F1 ${v.overall.f1.toFixed(3)}, false positives ${v.benign.perThousand.toFixed(2)} per 1,000 benign chains\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
