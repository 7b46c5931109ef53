/**
 * `npm run bench:kafka`: spans/s through a real broker, both stages and every detector, on this
 * machine. Starts its own broker (deploy/kafka.sh, 127.0.0.1:19392), writes a simulated fleet's
 * live traffic to otlp_spans first (OTLP protobuf batches of ≥ 100 spans, as the Collector's
 * exporter writes them, zstd), then starts the detect stage (`serve --kafka-stage detect`, a child
 * process of its own) on a fleet whose baselines were learned, with the ingest stage in this
 * process, and times from ingest's group join until the detect group has committed the last call
 * ingest produced. Then each stage alone, on fresh groups and a calls topic of its own: ingest
 * with only the broker beside it, then detect over all that ingest produced (stopped while ingest
 * ran; timed from when it continues until committed). Broker, stages and this driver share the
 * machine's 2 cores.
 * What is timed runs warm, as a deployed pipeline does: before each timed detect process reads its
 * traffic, the ingest stage (in this process) runs over twelve days of another fleet
 * (BENCH_WARM_DAYS; agents numbered apart, days before the timed fleet's) into that process's
 * calls topic. A just-started broker spent 1.5–1.7 CPU-s of the combined run compiling its fetch,
 * produce and commit paths; a just-started detect process 0.9 of its ~3.8 CPU-s in V8's optimizing
 * compiler (perf, by thread), and this process's ingest code 0.5 after a four-day warm-up — a
 * fifth of all the CPU the run used, paid once by a pipeline that runs for days. BENCH_COLD=1
 * times fresh detect processes instead (the warm-up then goes through one of its own, for the
 * broker). For each timed run it prints the CPU time each process (this one, the detect process,
 * the broker) spent in it: on a shared 2-core machine, what a stage costs per span is what bounds
 * the run.
 * It also scores the combined run's alerts against the fleet's labels (as `chainwatch eval` does);
 * CHAINWATCH_BENCH_ALERTS=FILE keeps a copy of those alerts (and the labels beside it, FILE.labels).
 * BENCH_LIVE_DAYS (default 12: ~340k spans; each stage alone then runs for seconds, not for the
 * fetch waits and commit interval at its ends) sets the size of the timed traffic.
 * Profiling: CHAINWATCH_BENCH_PROFILE=FILE writes this process's (ingest) CPU profile of the timed
 * window; CHAINWATCH_BENCH_DETECT_ARGS passes node flags to the detect process (e.g. --cpu-prof);
 * CHAINWATCH_BENCH_DETECT_CONFIG adds YAML lines to its config (e.g. 'store: { record_calls: false }').
 * CHAINWATCH_BENCH_TRACE=1 prints both stages' progress every 250 ms (where the time goes between them).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Admin, CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { registerKafkaCodecs } from '../../src/kafka-codecs.js';
import { packagePath } from '../../src/package-path.js';
import { Service } from '../../src/service.js';
import { toBatches } from '../helpers/batches.js';
import { type ServeProcess, cpuMsOf, selfCpuMs, startServe, waitFor } from '../helpers/bench.js';
import { learnedEngine } from '../helpers/learned.js';
import { StateStore } from '../../src/state-store.js';
import { kafkaConfig } from '../../src/config.js';
import { defaultSimOptions, simulate } from '../../src/simulate.js';
import { evaluate } from '../../src/evaluate.js';
import type { Alert } from '../../src/alerts.js';

/** `serve --kafka-stage detect` in a process of its own, from a copy of the learned state; `kafka` adds to its kafka section. */
async function startDetect(dir: string, name: string, broker: string, learned: string, kafka: string): Promise<ServeProcess> {
  cpSync(learned, join(dir, name), { recursive: true });
  return startServe(join(dir, `${name}.yaml`), [
    `state_dir: ${join(dir, name)}`, 'receiver: { port: 0 }', 'telemetry: { prometheus: { enabled: false } }', 'api: { enabled: false }',
    `kafka: { brokers: ["${broker}"], stages: detect${kafka} }`, ...(process.env.CHAINWATCH_BENCH_DETECT_CONFIG ? [process.env.CHAINWATCH_BENCH_DETECT_CONFIG] : []),
  ], process.env.CHAINWATCH_BENCH_DETECT_ARGS?.split(' ') ?? []);
}

/**
 * performance.now() of a stage's group join, from the time the stage records when it happens:
 * polling could see it only after the first fetch was processed.
 */
async function joinedAt(counters: () => { rebalances: number; lastRebalanceAt?: string } | Promise<{ rebalances: number; lastRebalanceAt?: string }>): Promise<number> {
  const at = await waitFor(async () => {
    const c = await counters();
    return c.rebalances > 0 ? c.lastRebalanceAt : undefined;
  }, 5);
  return performance.now() - (Date.now() - Date.parse(at!));
}

/** Whether `group` has committed every partition of `topic` to its end. */
async function caughtUp(admin: Admin, group: string, topic: string): Promise<true | undefined> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [done] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return ends.every((e) => done.partitions.find((p) => p.partition === e.partition)?.offset === e.high) ? true : undefined;
}

/** Write OTLP protobuf requests to `topic`, zstd, 50 to a produce request (as a Collector would batch them). */
async function produceSpans(brokers: string[], topic: string, bufs: Uint8Array[]): Promise<void> {
  const producer = new Kafka({ clientId: 'collector', brokers, logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  for (let i = 0; i < bufs.length; i += 50) {
    await producer.send({ topic, compression: CompressionTypes.ZSTD, messages: bufs.slice(i, i + 50).map((b) => ({ key: null, value: Buffer.from(b.buffer, b.byteOffset, b.byteLength) })) });
  }
  await producer.disconnect();
}

/**
 * CPU time used by the processes of a run, ms: this one (when it runs ingest), the detect process,
 * the broker.
 */
class CpuMeter {
  private readonly self = selfCpuMs();
  private readonly broker: number;
  private detect: { process: ServeProcess; from: number } | undefined;

  constructor(private readonly brokerPid: number, private readonly ingest: boolean, detect?: ServeProcess) {
    this.broker = cpuMsOf(brokerPid);
    if (detect) this.detect = { process: detect, from: detect.cpuMs() };
  }

  /** `| ingest | detect | broker | µs per span |` cells for the time since construction. */
  cells(spans: number): string {
    const self = this.ingest ? selfCpuMs() - this.self : 0;
    const detect = this.detect ? this.detect.process.cpuMs() - this.detect.from : 0;
    const broker = cpuMsOf(this.brokerPid) - this.broker;
    const s = (ms: number, on: boolean): string => (on ? (ms / 1000).toFixed(1) : '—');
    return `${s(self, this.ingest)} | ${s(detect, this.detect !== undefined)} | ${s(broker, true)} | ${Math.round(((self + detect + broker) * 1000) / spans)}`;
  }
}

/**
 * The timed traffic (12 days of a simulated fleet by default) to otlp_spans; the warm-up traffic to
 * warm_spans: another fleet, its agents numbered from 101 (they share no agent or credential with
 * the timed one), in the days before the timed fleet's; and into `learned`, the baselines learned
 * from each fleet's history — the warm-up fleet's are adopted agent by agent (as a detect worker
 * adopts an agent from the changelog), so peer baselines and credential owners are the timed
 * fleet's alone, and the warm-up agents enforce: every detector runs on the warm-up traffic.
 */
async function prepare(brokers: string[], learned: string): Promise<{ records: number; spans: number; chains: number; agents: number; warmRecords: number; labels: ReturnType<typeof simulate>['labels'] }> {
  const sim = simulate({ seed: 7, agentsPerRole: 40, historyDays: 3, liveDays: Number(process.env.BENCH_LIVE_DAYS ?? 12), attacksPerClass: 5, chainsPerAgentDay: 15 });
  // The Collector's batching interleaves traces; ours groups whole traces, which is what partition_traces_by_id gives per partition.
  const { bufs, spans } = toBatches(sim.live, 100);
  process.stderr.write(`simulated: ${spans} spans in ${bufs.length} records; producing…\n`);
  await produceSpans(brokers, 'otlp_spans', bufs);
  const warmDays = Number(process.env.BENCH_WARM_DAYS ?? 12);
  const warmFleet = simulate({ seed: 8, agentsPerRole: 40, firstAgent: 101, historyDays: 3, liveDays: warmDays, attacksPerClass: 5, chainsPerAgentDay: 15, start: defaultSimOptions.start - (3 + warmDays) * 86_400_000 });
  const warm = toBatches(warmFleet.live, 100).bufs;
  await produceSpans(brokers, 'warm_spans', warm);
  // The learned state both stages start from (as `chainwatch learn` leaves it).
  const learner = learnedEngine(sim.history);
  const agents = learner.agents.size;
  const warmLearner = learnedEngine(warmFleet.history);
  for (const rec of warmLearner.exportAgents(new Set(warmLearner.agents.keys())).values()) learner.adoptAgent(rec);
  const store = new StateStore(learned);
  store.save(learner);
  store.close();
  return { records: bufs.length, spans, chains: sim.labels.length, agents, warmRecords: warm.length, labels: sim.labels };
}

/**
 * The ingest stage over the warm-up traffic (warm_spans, under group `group`) into `calls`, in
 * this process; returns once `detectGroup` has committed all of `calls`.
 */
async function warmPass(admin: Admin, brokers: string[], dir: string, learned: string, group: string, calls: string, detectGroup: string, records: number): Promise<void> {
  cpSync(learned, join(dir, group), { recursive: true });
  const ingest = new Service({ stateDir: join(dir, group), receiver: { port: 0 }, kafka: kafkaConfig({ stages: 'ingest', group, topics: { spans: 'warm_spans', calls, dlq: `${group}_dlq` } }, brokers) });
  await ingest.start();
  await waitFor(() => (ingest.ingest!.counters.records >= records ? true : undefined), 20);
  await ingest.stop();
  await waitFor(() => caughtUp(admin, detectGroup, calls), 20);
}

async function main(): Promise<void> {
  registerKafkaCodecs();
  const dir = mkdtempSync(join(tmpdir(), 'chainwatch-bench-kafka-'));
  const env = { ...process.env, KAFKA_DIR: join(dir, 'kafka'), KAFKA_PORT: '19392' };
  const script = packagePath('deploy', 'kafka.sh');
  execFileSync('bash', [script, 'start'], { env, stdio: 'inherit' });
  const brokerPid = Number(readFileSync(join(dir, 'kafka', 'kafka.pid'), 'utf8'));
  const brokers = ['127.0.0.1:19392'];
  try {
    // Only counts are kept of the simulated fleet: the driver is also the ingest process, and a
    // heap holding ~400 MB of simulated traffic made each of its full GCs take 200–360 ms.
    const learned = join(dir, 'learned');
    const { records, spans, chains, agents, warmRecords, labels } = await prepare(brokers, learned);
    const admin = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const detects: ServeProcess[] = [];
    try {
      // 0. Untimed: both stages over the warm-up fleet, through the very detect process that is
      // timed next (BENCH_COLD=1: through a detect process of its own, and a fresh one is timed).
      const cold = process.env.BENCH_COLD === '1';
      const detect = await startDetect(dir, 'detect', brokers[0], learned, '');
      detects.push(detect);
      if (cold) {
        const warmDetect = await startDetect(dir, 'warm-detect', brokers[0], learned, ', group: warm, topics: { calls: warm_calls, dlq: warm_dlq }');
        detects.push(warmDetect);
        await warmPass(admin, brokers, dir, learned, 'warm', 'warm_calls', 'warm-detect', warmRecords);
        warmDetect.kill();
      } else await warmPass(admin, brokers, dir, learned, 'warm', 'chainwatch_calls', 'chainwatch-detect', warmRecords);
      process.stderr.write(`broker${cold ? '' : ', ingest code and detect process'} warmed up; `);
      // What the warm-up left in the detect process's counters, not counted below.
      const warmed = await detect.status();

      // 1. Both stages at once, as deployed: detect in a process of its own, ingest in this one.
      await waitFor(async () => ((await detect.status()).kafka.detect.partitions.length > 0 ? true : undefined));
      cpSync(learned, join(dir, 'ingest'), { recursive: true });
      const service = new Service({ stateDir: join(dir, 'ingest'), receiver: { port: 0 }, kafka: kafkaConfig({ stages: 'ingest' }, brokers) });
      process.stderr.write('produced and learned; detect stage joined; starting ingest…\n');
      const tStart = performance.now();
      const both = new CpuMeter(brokerPid, true, detect);
      await service.start();
      const ingest = (): NonNullable<typeof service.ingest>['counters'] => service.ingest!.counters;
      // Timing starts when ingest has joined its group (start-up, not throughput) — before its first
      // fetch returns. (It used to start at the first record counted, which came after the first
      // fetch's records — most of the topic — had been processed: that overstated both figures.)
      const t0 = await joinedAt(() => ingest());
      const joinMs = t0 - tStart;
      const profiler = process.env.CHAINWATCH_BENCH_PROFILE ? new inspector.Session() : undefined;
      if (profiler) {
        profiler.connect();
        profiler.post('Profiler.enable');
        profiler.post('Profiler.start');
      }
      const trace = process.env.CHAINWATCH_BENCH_TRACE ? setInterval(() => void detect.status().then((d) => process.stderr.write(`${Math.round(performance.now() - t0)} ms: ingest records ${ingest().records} calls ${ingest().calls}; detect calls ${d.kafka.detect.calls} commits ${d.kafka.detect.commits}\n`)), 250) : undefined;
      while (ingest().records < records) await new Promise((r) => setTimeout(r, 20));
      const tRead = performance.now();
      // Every span consumed: stopping ingest closes the chains still open and produces the rest.
      await service.stop();
      const tIngest = performance.now();
      await waitFor(() => caughtUp(admin, 'chainwatch-detect', 'chainwatch_calls'), 20);
      const tDetect = performance.now();
      if (trace) process.stderr.write(`all records read at ${Math.round(tRead - t0)} ms, ingest stopped at ${Math.round(tIngest - t0)} ms, detect committed the end at ${Math.round(tDetect - t0)} ms\n`);
      const bothCpu = both.cells(spans);
      clearInterval(trace);
      if (profiler) {
        profiler.post('Profiler.stop', (_err, { profile }) => writeFileSync(process.env.CHAINWATCH_BENCH_PROFILE!, JSON.stringify(profile)));
        profiler.disconnect();
      }
      const st = await detect.status();
      // The combined run's alerts against the fleet's labels: what reading through Kafka does to
      // the verdicts (an agent's calls reach detect in the order ingest reads its partitions).
      const alertsText = readFileSync(join(dir, 'detect', 'alerts.jsonl'), 'utf8');
      const verdicts = evaluate(labels, alertsText.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Alert));
      const keep = process.env.CHAINWATCH_BENCH_ALERTS;
      if (keep) {
        writeFileSync(keep, alertsText);
        writeFileSync(`${keep}.labels`, labels.map((l) => JSON.stringify(l)).join('\n') + '\n');
      }
      detect.kill();
      const counters = { ...ingest() };

      // 2. Each stage alone, on fresh groups and a calls topic of its own: ingest with only the
      // broker beside it, then detect over everything ingest produced — what each stage does with
      // the machine to itself (capacity per stage; the first figure is what they do together).
      // The detect process is warmed as above (the warm-up traffic through its topic first), then
      // stopped while ingest runs, and timed from when it continues until it has committed the end.
      const soloDetect = await startDetect(dir, 'solo-detect', brokers[0], learned, ', group: solo, topics: { calls: solo_calls, dlq: solo_dlq }');
      detects.push(soloDetect);
      await waitFor(async () => ((await soloDetect.status()).kafka.detect.partitions.length > 0 ? true : undefined));
      if (!cold) await warmPass(admin, brokers, dir, learned, 'warm-solo', 'solo_calls', 'solo-detect', warmRecords);
      soloDetect.pause();
      cpSync(learned, join(dir, 'solo-ingest'), { recursive: true });
      const solo = new Service({ stateDir: join(dir, 'solo-ingest'), receiver: { port: 0 }, kafka: kafkaConfig({ stages: 'ingest', group: 'solo', topics: { calls: 'solo_calls', dlq: 'solo_dlq' } }, brokers) });
      const soloIngestCpu = new CpuMeter(brokerPid, true);
      await solo.start();
      const s0 = await joinedAt(() => solo.ingest!.counters);
      while (solo.ingest!.counters.records < records) await new Promise((r) => setTimeout(r, 20));
      await solo.stop();
      const sIngest = performance.now();
      const ingestCpu = soloIngestCpu.cells(spans);
      const soloDetectCpu = new CpuMeter(brokerPid, false, soloDetect);
      const d0 = performance.now();
      soloDetect.resume();
      await waitFor(() => caughtUp(admin, 'solo-detect', 'solo_calls'), 20);
      const sDetect = performance.now();
      const detectCpu = soloDetectCpu.cells(spans);

      const s = (ms: number): string => `${Math.round(spans / (ms / 1000) / 1000)}k`;
      process.stdout.write(`${spans.toLocaleString('en')} spans in ${records} zstd records (${chains} chains), ${agents} agents learned first\n\n`);
      process.stdout.write('| stage | spans/s |\n|---|---|\n');
      process.stdout.write(`| ingest (one process): consume, decode, normalize, join, produce calls, close the last chains | ${s(tIngest - t0)} |\n`);
      process.stdout.write(`| through both stages (detect in a second process, every detector, state changelog) until detect has committed the last call | ${s(tDetect - t0)} |\n`);
      process.stdout.write(`| ingest alone (only the broker beside it) | ${s(sIngest - s0)} |\n`);
      process.stdout.write(`| detect alone, over everything ingest produced (only the broker beside it), until committed | ${s(sDetect - d0)} |\n`);
      process.stdout.write(`\nCPU time spent in each timed run, s (user + system, GC and JIT threads included; ${cold ? 'fresh detect processes' : 'both stages warmed up first'}):\n\n| run | ingest process | detect process | broker | CPU µs per span |\n|---|---|---|---|---|\n`);
      process.stdout.write(`| through both stages | ${bothCpu} |\n| ingest alone | ${ingestCpu} |\n| detect alone | ${detectCpu} |\n`);
      process.stdout.write(`\nthrough both stages, detect's alerts against the labels: ${verdicts.overall.detected} of ${verdicts.overall.attacks} attacks found, F1 ${verdicts.overall.f1.toFixed(3)}, false positives ${verdicts.benign.perThousand.toFixed(2)} per 1,000 benign chains\n`);
      const alertCount = (status: { engine: { alerts: Record<string, number> } }): number => Object.values(status.engine.alerts).reduce((a, b) => a + b, 0);
      const alerts = alertCount(st) - alertCount(warmed);
      process.stdout.write(`\ningest joined in ${(joinMs / 1000).toFixed(1)} s (not counted); calls ${counters.calls} (${Math.round(counters.callBytes / counters.calls)} bytes of calls-topic records a call, before compression), chains closed ${counters.closes}, alerts ${alerts}, changelog records ${st.kafka.detect.changelogRecords - warmed.kafka.detect.changelogRecords} (${Math.round((st.kafka.detect.changelogBytes - warmed.kafka.detect.changelogBytes) / 1e6)} MB before compression), dead letters ${counters.deadLettered}\n`);
    } finally {
      for (const d of detects) d.kill();
      await admin.disconnect();
    }
  } finally {
    execFileSync('bash', [script, 'stop'], { env, stdio: 'inherit' });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
