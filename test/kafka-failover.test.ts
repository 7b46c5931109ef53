/**
 * Failover of the Kafka stages against a real broker (deploy/kafka.sh). Detect: two `chainwatch
 * serve --kafka-stage detect` workers share a 4-partition calls topic; one is SIGKILLed while
 * calls are still flowing; the survivor takes its partitions, restores their agents from the
 * changelog topic, and the alerts of both workers together are exactly those of one worker that
 * ran uninterrupted — none lost, none that the uninterrupted run does not have. And a worker
 * stopped with SIGTERM commits what it processed (state, then offsets) before it leaves, and one
 * whose changelog is ahead of its offsets skips the records its state already holds.
 * Ingest: a worker SIGKILLed while traces are open loses none of their spans — its successor
 * reads them again — and the calls it sends twice reach detect once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompressionTypes, Kafka, type Message, logLevel } from 'kafkajs';
import { registerKafkaCodecs } from '../src/kafka-codecs.js';
import { LagProbe } from '../src/kafka-lag.js';
import type { Alert } from '../src/alerts.js';
import { Engine, defaultEngineConfig } from '../src/engine.js';
import { type CallItem, decodeCalls } from '../src/call-wire.js';
import { agentTrace, attrs, toProto } from './helpers/spans.js';
import { simulate } from '../src/simulate.js';
import { learnInto } from './helpers/learned.js';
import { callsTopic } from './helpers/calls.js';
import { serve, type Served } from './helpers/serve.js';
import { until } from './helpers/until.js';

const script = fileURLToPath(new URL('../deploy/kafka.sh', import.meta.url));
const port = 19192;
const broker = `127.0.0.1:${port}`;
const env = { ...process.env, KAFKA_DIR: mkdtempSync(join(tmpdir(), 'chainwatch-kafka-fo-')), KAFKA_PORT: String(port) };
const work = mkdtempSync(join(tmpdir(), 'chainwatch-failover-'));
const topics = { spans: 'fo_spans', calls: 'fo_calls', dlq: 'fo_dlq' };
const children: ChildProcess[] = [];
const kafka = new Kafka({ clientId: 'chainwatch-test', brokers: [broker], logLevel: logLevel.NOTHING });

beforeAll(() => {
  execFileSync('bash', [script, 'start'], { env, stdio: 'pipe', timeout: 180_000 });
}, 200_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  execFileSync('bash', [script, 'stop'], { env, stdio: 'pipe', timeout: 60_000 });
  rmSync(env.KAFKA_DIR, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}, 70_000);

/** A detect worker of `group`, as a child process, on a copy of the learned state. */
function worker(name: string, group: string, template: string, calls = topics.calls, commitInterval = '1s', extra: string[] = []): Promise<Served> {
  const dir = join(work, name);
  cpSync(template, join(dir, 'state'), { recursive: true });
  const config = join(dir, 'chainwatch.yaml');
  writeFileSync(config, [
    `state_dir: ${join(dir, 'state')}`, 'receiver: { port: 0 }', 'telemetry: { prometheus: { enabled: false } }', 'api: { enabled: false }', ...extra,
    `kafka: { brokers: ["${broker}"], stages: detect, group: ${group}, session_timeout: 6s, commit_interval: ${commitInterval}, topics: { spans: ${topics.spans}, calls: ${calls}, dlq: ${topics.dlq} } }`,
  ].join('\n'));
  return serve(config, dir, process.env, children);
}

/** An ingest worker of `group`, as a child process; chains wait an hour for their agent's identity. */
function ingestWorker(name: string, group: string, spans: string, calls: string): Promise<Served> {
  const dir = join(work, name);
  const config = join(dir, 'chainwatch.yaml');
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(config, [
    `state_dir: ${join(dir, 'state')}`, 'receiver: { port: 0 }', 'telemetry: { prometheus: { enabled: false } }', 'api: { enabled: false }',
    'engine: { chains: { identity_wait: 1h } }',
    `kafka: { brokers: ["${broker}"], stages: ingest, group: ${group}, session_timeout: 6s, commit_interval: 1s, topics: { spans: ${spans}, calls: ${calls}, dlq: ${topics.dlq} } }`,
  ].join('\n'));
  return serve(config, dir, process.env, children);
}

function alertsOf(name: string): Alert[] {
  const file = join(work, name, 'state', 'alerts.jsonl');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Alert) : [];
}

async function status(w: Served): Promise<{ kafka: { detect: { partitions: number[]; agentsRestored: number; restoreErrors: number; lastError?: string; changelogRecords: number; calls: number; skipped: number; records: number; commits: number } } }> {
  return (await (await fetch(`${w.url}/status`)).json()) as never;
}

/** These partitions (default all) of a calls topic committed up to their end by `groupId`. */
async function caughtUp(groupId: string, partitions?: number[], calls = topics.calls): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(calls);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [calls] });
    return ends.filter((e) => partitions === undefined || partitions.includes(e.partition)).every((e) => committed.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
  } finally {
    await admin.disconnect();
  }
}

/** A small fleet's history learned into `learned-NAME`, and its live calls written to a new topic `NAME_calls` (4 partitions). */
async function smallFleet(seed: number, name: string): Promise<{ template: string; records: ReturnType<typeof callsTopic> }> {
  const sim = simulate({ seed, agentsPerRole: 2, historyDays: 2, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 10 });
  const template = join(work, `learned-${name}`);
  learnInto(template, sim.history);
  const records = callsTopic(sim.live);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: `${name}_calls`, numPartitions: 4 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: `${name}_calls`, messages: records, acks: -1 });
  await producer.disconnect();
  return { template, records };
}

/** A chain of `agentId` using the credential shared-key. */
function keyChain(agentId: string, t0: number): object {
  return agentTrace({ t0, agentId, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7', credential: 'shared-key' }] }).doc;
}

/** A one-partition calls topic `NAME_calls` (agents share it, as on a busy topic) and a learned state `learned-NAME` in which owner-agent owns shared-key. */
async function ownedKey(name: string, t: number): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: `${name}_calls`, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const template = join(work, `learned-${name}`);
  learnInto(template, [keyChain('owner-agent', t)]);
  return template;
}

/** The alerts a worker raised about borrower-agent (which uses owner-agent's key). */
const borrowerAlerts = (name: string): Alert[] => alertsOf(name).filter((a) => a.agent.id === 'borrower-agent');

/**
 * Short times so a test need not wait an hour: a 2 s rollup window, a 1 s chain idle timeout (a
 * partition is idle after 1 s without records; windows close 10 idle timeouts past their end).
 */
const SHORT_TIMES = ['engine: { chains: { idle_timeout: 1s }, alerts: { rollup_window: 2s } }'];

/** `body` with a connected producer, disconnected after; `send` writes chains of `agentId` at these times to `topic`. */
async function withProducer(topic: string, body: (send: (agentId: string, ...t0s: number[]) => Promise<void>) => Promise<void>): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await body(async (agentId, ...t0s) => {
      await producer.send({ topic, messages: callsTopic(t0s.map((t0) => keyChain(agentId, t0))), acks: -1 });
    });
  } finally {
    await producer.disconnect();
  }
}

/** Set `groupId`'s offsets on the 4 partitions of `topic` back to the start (a group stopped). */
async function rewind(groupId: string, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.setOffsets({ groupId, topic, partitions: [0, 1, 2, 3].map((partition) => ({ partition, offset: '0' })) });
  await admin.disconnect();
}

async function stopped(w: Served): Promise<void> {
  w.proc.kill('SIGTERM');
  await new Promise((r) => (w.proc.exitCode !== null ? r(null) : w.proc.once('exit', r)));
}

describe('Kafka detect stage failover', () => {
  it('a SIGKILLed worker\'s partitions move to the survivor with their state; alerts equal an uninterrupted run', async () => {
    const sim = simulate({ seed: 23, agentsPerRole: 3, historyDays: 3, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 20 });
    // The learned state every worker starts from (as `chainwatch learn` leaves it).
    const template = join(work, 'learned');
    const learner = learnInto(template, sim.history);
    const records = callsTopic(sim.live);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: topics.calls, numPartitions: 4 }], waitForLeaders: true });
    await admin.disconnect();
    // One agent, one partition (as the ingest stage's keyed produce guarantees); chosen here so the
    // test knows which agents the victim owns.
    const agents = [...new Set(records.map((m) => String(m.key)))].sort();
    const partitionOf = (agent: string): number => agents.indexOf(agent) % 4;
    const producer = kafka.producer();
    await producer.connect();
    const send = (list: Message[]): Promise<unknown> => producer.send({ topic: topics.calls, messages: list.map((m) => ({ ...m, partition: partitionOf(String(m.key)) })), acks: -1 });

    try {
      // Two workers in group "fo"; the second joins, so the partitions are split between them.
      const w1 = await worker('w1', 'fo', template);
      await until(async () => (await status(w1)).kafka.detect.partitions.length === 4, 30_000);
      const w2 = await worker('w2', 'fo', template);
      await until(async () => (await status(w1)).kafka.detect.partitions.length === 2 && (await status(w2)).kafka.detect.partitions.length === 2, 30_000);
      const victim = (await status(w2)).kafka.detect.partitions;

      // An agent of the victim uses another agent's credential twice, 40 records (well under the
      // one-hour rollup window) apart: before the kill and after. Only with its state restored
      // does the survivor fold the second use into the first alert, as an uninterrupted run does.
      const borrower = agents.find((a) => victim.includes(partitionOf(a)) && records.some((m) => String(m.key) === a && String(m.value).includes('"credential"')))!;
      const [credential, owner] = [...learner.global.credentialOwners].find(([, o]) => o !== borrower)!;
      const misuse = (at: number, n: number): { key: string; value: string }[] => {
        const template = JSON.parse(String(records.find((m) => String(m.key) === borrower && String(m.value).startsWith('{"t":"call"'))!.value));
        const time = (JSON.parse(String(records.slice(0, at).reverse().find((m) => String(m.value).startsWith('{"t":"call"'))!.value)).call.time as number);
        const traceId = `${n}`.padStart(32, 'f');
        const call = { ...template.call, credential, traceId, spanId: `${n}`.padStart(16, 'e'), time, endTime: time + 50 };
        return [{ key: borrower, value: JSON.stringify({ t: 'call', call }) }, { key: borrower, value: JSON.stringify({ t: 'close', traceId }) }];
      };
      const first = Math.floor(records.length * 0.35);
      records.splice(first + 40, 0, ...misuse(first + 40, 2));
      records.splice(first, 0, ...misuse(first, 1));

      // Calls flow in until w2 has raised the first misuse alert and committed past it (so only
      // its changelog state remembers it); it is killed as the next records arrive.
      for (let i = 0; i < first + 2; i += 100) await send(records.slice(i, Math.min(i + 100, first + 2)));
      await until(async () => alertsOf('w2').some((a) => a.credential === credential) && (await caughtUp('fo-detect', [partitionOf(borrower)])), 30_000);
      await send(records.slice(first + 2, first + 32));
      w2.proc.kill('SIGKILL');
      for (let i = first + 32; i < records.length; i += 100) await send(records.slice(i, i + 100));
      await until(() => caughtUp('fo-detect'), 60_000);
      const survivor = (await status(w1)).kafka.detect;
      expect(survivor.partitions).toEqual([0, 1, 2, 3]);
      expect(survivor.agentsRestored).toBeGreaterThan(0);
      await stopped(w1);

      // The same calls through one uninterrupted worker of group "ref".
      const ref = await worker('ref', 'ref', template);
      await until(() => caughtUp('ref-detect'), 60_000);
      expect((await status(ref)).kafka.detect.calls).toBe(records.filter((m) => String(m.value).startsWith('{"t":"call"')).length);
      await stopped(ref);

      const key = (a: Alert): string => `${a.id} ${a.severity} ${a.count}${a.update ? ' update' : ''}`;
      const expected = alertsOf('ref').map(key);
      const got = [...alertsOf('w1'), ...alertsOf('w2')].map(key);
      expect(expected.length).toBeGreaterThan(5);
      expect(new Set(expected).size).toBe(expected.length);
      // Every alert of the uninterrupted run, and nothing else; an alert raised again by the
      // survivor for calls whose offsets w2 never committed carries the same id and content.
      expect([...new Set(got)].sort()).toEqual([...expected].sort());
      const folded = alertsOf('ref').filter((a) => a.credential === credential);
      expect(folded.map((a) => [a.agent.id, a.count])).toEqual([[borrower, 1], [borrower, 2]]);
      expect(folded[0].title).toContain(owner);
      process.stderr.write(`failover: w2 (partitions ${victim.join(',')}) killed after ${first + 32} of ${records.length} records; ${alertsOf('w2').length} alerts from w2, ${got.length - new Set(got).size} raised again by the survivor, ${survivor.agentsRestored} agents restored, ${survivor.skipped} calls skipped as already applied\n`);
    } finally {
      await producer.disconnect();
    }
  }, 240_000);

  it('a SIGKILLed ingest worker\'s open traces are read again by its successor; calls sent twice reach detect once', async () => {
    registerKafkaCodecs();
    // Per partition, complete traces alternate with traces whose root span (which alone names the
    // agent) comes later; each trace has its own resource, so no alias names it before its root.
    const T0 = Date.UTC(2026, 5, 1, 10);
    const traces = Array.from({ length: 64 }, (_, i) => {
      const t = agentTrace({ t0: T0 + i * 200, agentId: `ic-agent-${i % 5}`, tools: [
        { tool: 'get_ticket', method: 'GET', url: `https://tickets.corp.internal/api/tickets/${i}` },
        { tool: 'post_note', method: 'POST', url: `https://notes.corp.internal/api/notes/${i}` },
      ] });
      const rs = (t.doc as { resourceSpans: { resource: { attributes: object[] }; scopeSpans: { spans: object[] }[] }[] }).resourceSpans[0];
      rs.resource.attributes = attrs({ 'service.name': 'ic-svc', 'service.instance.id': `pod-${i}` });
      const partition = i % 4;
      const complete = Math.floor(i / 4) % 2 === 0;
      const spans = rs.scopeSpans[0].spans;
      const withSpans = (list: object[]) => toProto({ resourceSpans: [{ ...rs, scopeSpans: [{ scope: { name: 't' }, spans: list }] }] });
      return {
        ...t, partition, complete,
        first: Buffer.from(complete ? toProto(t.doc) : withSpans(spans.slice(0, -1))),
        root: complete ? undefined : Buffer.from(withSpans(spans.slice(-1))),
      };
    });
    const expected = traces.flatMap((t) => t.clientIds).sort();
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: ['ic_spans', 'ic_calls'].map((topic) => ({ topic, numPartitions: 4 })), waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const produce = (list: { key: string; value: Buffer; partition: number }[]): Promise<unknown> => producer.send({ topic: 'ic_spans', messages: list, acks: -1, compression: CompressionTypes.LZ4 });

    try {
      await produce(traces.map((t) => ({ key: t.traceId, value: t.first, partition: t.partition })));
      const a = await ingestWorker('ic-a', 'ic', 'ic_spans', 'ic_calls');
      const ingestOf = async (w: Served) => ((await status(w)) as unknown as { kafka: { ingest: { records: number; calls: number; commits: number } } }).kafka.ingest;
      await until(async () => (await ingestOf(a)).records === traces.length, 30_000);
      // Two commits after everything was read: the complete traces' calls are out, the others wait for their roots.
      const commits = (await ingestOf(a)).commits;
      await until(async () => (await ingestOf(a)).commits >= commits + 2, 15_000);
      expect((await ingestOf(a)).calls).toBe(traces.filter((t) => t.complete).length * 2);
      // The group's offsets stop at each partition's first open trace (offset 1: a complete trace
      // comes first) while the lag, measured from the read position in the commit metadata, is nil.
      const probe = kafka.admin();
      await probe.connect();
      const [held] = await probe.fetchOffsets({ groupId: 'ic-ingest', topics: ['ic_spans'] });
      await probe.disconnect();
      expect(held.partitions.map((p) => p.offset).sort()).toEqual(['1', '1', '1', '1']);
      const lag = new LagProbe(kafka, 'ic-ingest', 'ic_spans');
      await lag.start();
      expect(lag.lag.total).toBe(0);
      await lag.stop();
      a.proc.kill('SIGKILL');

      await produce(traces.filter((t) => t.root).map((t) => ({ key: t.traceId, value: t.root!, partition: t.partition })));
      const b = await ingestWorker('ic-b', 'ic', 'ic_spans', 'ic_calls');
      // Everything on the calls topic, as detect reads it.
      const items: { key: string; item: CallItem }[] = [];
      const consumer = kafka.consumer({ groupId: 'ic-reader' });
      await consumer.connect();
      await consumer.subscribe({ topic: 'ic_calls', fromBeginning: true });
      void consumer.run({ eachMessage: async ({ message }) => {
        for (const item of decodeCalls(message.value!)) items.push({ key: String(message.key), item });
      } });
      const sent = (): string[] => items.flatMap(({ item }) => (item.t === 'call' ? [item.call.spanId] : []));
      await until(() => expected.every((id) => sent().includes(id)), 60_000).catch(() => undefined);
      await consumer.disconnect();
      await stopped(b);

      // None lost: every call of every trace is on the calls topic.
      expect([...new Set(sent())].sort()).toEqual(expected);
      // The successor read again the complete traces that sat between open ones, and sent their calls again …
      const twice = sent().length - new Set(sent()).size;
      expect(twice).toBeGreaterThan(0);
      // … which detect takes once: its chains hold each call once.
      const engine = new Engine(defaultEngineConfig);
      engine.mode = 'learn';
      for (const { item } of items) {
        if (item.t === 'call') engine.ingestCall(item.call);
        else engine.closeChain(item.traceId);
      }
      engine.flush();
      expect(engine.stats.calls).toBe(expected.length);
      expect(engine.assembler.duplicateCalls).toBe(twice);
      process.stderr.write(`ingest failover: ${traces.filter((t) => !t.complete).length} traces open at the kill; ${twice} calls sent twice, dropped by detect\n`);
    } finally {
      await producer.disconnect();
    }
  }, 120_000);

  it('SIGTERM commits what a detect worker processed, state first, before it leaves the group; state ahead of the offsets skips what it holds', async () => {
    const { template, records } = await smallFleet(43, 'term');
    // A commit interval longer than the test: only the shutdown commits.
    const w = await worker('term', 'term', template, 'term_calls', '10m');
    await until(async () => (await status(w)).kafka.detect.records === records.length, 30_000);
    expect(await caughtUp('term-detect', undefined, 'term_calls')).toBe(false);
    await stopped(w);
    expect(w.proc.exitCode).toBe(0);
    expect(await caughtUp('term-detect', undefined, 'term_calls')).toBe(true);
    const a = kafka.admin();
    await a.connect();
    const changelog = await a.fetchTopicOffsets('term-detect-state-changelog');
    await a.disconnect();
    expect(changelog.reduce((n, p) => n + Number(p.high), 0)).toBeGreaterThan(0);

    // The changelog ahead of the offsets (a worker that died between writing its state and
    // committing): rewind the group and start again on the same volume. The state restored from
    // the changelog already holds every call, so each record read again is skipped, not applied twice.
    const alertsBefore = alertsOf('term').length;
    await rewind('term-detect', 'term_calls');
    const again = await serve(join(work, 'term', 'chainwatch.yaml'), join(work, 'term'), process.env, children);
    await until(async () => (await status(again)).kafka.detect.records === records.length, 30_000);
    const st = (await status(again)).kafka.detect;
    expect(st.skipped).toBe(records.length);
    expect(st.calls).toBe(0);
    await stopped(again);
    expect(alertsOf('term')).toHaveLength(alertsBefore);
  }, 120_000);

  it('a changelog record it cannot read leaves its agent at the learned baseline, counted; the other agents are restored', async () => {
    const { template, records } = await smallFleet(53, 'dmg');
    const w = await worker('dmg', 'dmg', template, 'dmg_calls', '10m');
    await until(async () => (await status(w)).kafka.detect.records === records.length, 30_000);
    await stopped(w);
    // A damaged record for one agent, stamped ahead of everything so it is the one chosen
    // (same key, so the same partition as that agent's state).
    const agents = [...new Set(records.map((r) => r.key))];
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'dmg-detect-state-changelog', messages: [{ key: agents[0], value: '{"offset":999999,"state":{"version":1,"agent":' }], acks: -1 });
    await producer.disconnect();
    await rewind('dmg-detect', 'dmg_calls');

    const again = await serve(join(work, 'dmg', 'chainwatch.yaml'), join(work, 'dmg'), process.env, children);
    await until(async () => (await status(again)).kafka.detect.records === records.length, 30_000);
    const st = (await status(again)).kafka.detect;
    expect(st.restoreErrors).toBe(1);
    expect(st.lastError).toContain(`restoring ${agents[0]}: changelog record is not JSON`);
    expect(st.agentsRestored).toBe(agents.length - 1);
    // The other agents' state holds their calls; the damaged one's calls are applied again from its baseline.
    const own = records.filter((r) => r.key === agents[0]).length;
    expect(st.skipped).toBe(records.length - own);
    await stopped(again);
    expect(again.proc.exitCode).toBe(0);
  }, 120_000);

  it('a detect worker that keeps up with a steady stream commits on the interval, then once the stream stops', async () => {
    const sim = simulate({ seed: 53, agentsPerRole: 2, historyDays: 2, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 10 });
    const template = join(work, 'learned-steady');
    learnInto(template, sim.history);
    const records = callsTopic(sim.live);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'steady_calls', numPartitions: 4 }], waitForLeaders: true });
    await admin.disconnect();
    const w = await worker('steady', 'steady', template, 'steady_calls', '4s');
    const producer = kafka.producer();
    await producer.connect();
    try {
      await until(async () => (await status(w)).kafka.detect.partitions.length === 4, 30_000);
      const before = (await status(w)).kafka.detect.commits;
      // ~8 s of calls, a few every 40 ms: the worker reads each to the end of its partitions, so it
      // is caught up after nearly every batch. Committing then (at most four times per interval,
      // as it did) made ~8 commits here; on the interval, 2 — and one when the stream stops.
      const per = Math.ceil(records.length / 200);
      for (let i = 0; i < records.length; i += per) {
        await producer.send({ topic: 'steady_calls', messages: records.slice(i, i + per), acks: 1 });
        await new Promise((r) => setTimeout(r, 40));
      }
      const during = (await status(w)).kafka.detect.commits - before;
      await until(() => caughtUp('steady-detect', undefined, 'steady_calls'), 10_000, 100);
      expect((await status(w)).kafka.detect.calls).toBeGreaterThan(0);
      expect(during).toBeLessThanOrEqual(4);
    } finally {
      await producer.disconnect();
      await stopped(w);
    }
  }, 90_000);

  it('sends a quiet agent\'s rollup update once its partition\'s time has moved past the window, while other agents keep calling', async () => {
    let t = Date.UTC(2026, 5, 1, 10);
    const w = await worker('quiet', 'quiet', await ownedKey('quiet', t), 'quiet_calls', '1s');
    try {
      await withProducer('quiet_calls', async (send) => {
        await send('borrower-agent', (t += 60_000));
        await send('borrower-agent', (t += 60_000)); // a repeat, counted in the open window
        // The owner goes on, ten minutes of event time a chain, for three hours; the borrower never calls again.
        for (let i = 0; i < 18; i++) await send('owner-agent', (t += 600_000));
        await until(async () => borrowerAlerts('quiet').length === 2, 20_000, 200);
      });
      const [first, update] = borrowerAlerts('quiet');
      expect(first).toMatchObject({ count: 1 });
      expect(update).toMatchObject({ id: first.id, update: true, count: 2 });
    } finally {
      await stopped(w);
    }
  }, 90_000);

  it('sends the rollup update of an agent alone in its partition once the partition has been idle past the window', async () => {
    const t = Date.UTC(2026, 5, 1, 10);
    const w = await worker('lone', 'lone', await ownedKey('lone', t), 'lone_calls', '1s', SHORT_TIMES);
    try {
      let sent = 0;
      await withProducer('lone_calls', async (send) => {
        // The borrower alone, twice in a second of event time, then never again; no other agent.
        await send('borrower-agent', t + 60_000, t + 61_000);
        await until(async () => borrowerAlerts('lone').length === 1, 20_000, 200);
        sent = Date.now();
      });
      await until(async () => borrowerAlerts('lone').length === 2, 40_000, 200);
      const [first, update] = borrowerAlerts('lone');
      expect(update).toMatchObject({ id: first.id, update: true, count: 2 });
      // Not before the partition's time (its last call plus the idle wall-clock time) passed the window by 10 idle timeouts.
      expect(Date.now() - sent).toBeGreaterThan(9_000);
    } finally {
      await stopped(w);
    }
  }, 90_000);

  it('hands an idle partition\'s open rollup window to the next owner, which sends its update once idle past the window from when it took the partition', async () => {
    const t = Date.UTC(2026, 5, 1, 10);
    const template = await ownedKey('handoff', t);
    const first = await worker('handoff-a', 'handoff', template, 'handoff_calls', '1s', SHORT_TIMES);
    let second: Served | undefined;
    try {
      await withProducer('handoff_calls', (send) => send('borrower-agent', t + 60_000, t + 61_000));
      await until(async () => borrowerAlerts('handoff-a').length === 1, 20_000, 200);
      await until(async () => caughtUp('handoff-detect', undefined, 'handoff_calls'), 20_000, 200);
      // Stopped before its partition's idle time could close the window: the window moves with the agent.
      await stopped(first);
      expect(borrowerAlerts('handoff-a')).toHaveLength(1);
      const started = Date.now();
      second = await worker('handoff-b', 'handoff', template, 'handoff_calls', '1s', SHORT_TIMES);
      await until(async () => borrowerAlerts('handoff-b').length === 1, 40_000, 200);
      const [alert] = borrowerAlerts('handoff-a');
      // The update alone, with the count of both calls: the first alert is not sent again.
      expect(borrowerAlerts('handoff-b')).toEqual([expect.objectContaining({ id: alert.id, update: true, count: 2 })]);
      expect(Date.now() - started).toBeGreaterThan(9_000);
    } finally {
      if (first.proc.exitCode === null) await stopped(first);
      if (second) await stopped(second);
    }
  }, 120_000);

  it('a detect worker that has read everything commits it without waiting for the commit interval', async () => {
    const { template, records } = await smallFleet(47, 'idle');
    // Interval 40 s: a commit when caught up may come a quarter of it (10 s) after start, the
    // interval's own tick only after 40 s.
    const started = Date.now();
    const w = await worker('idle', 'idle', template, 'idle_calls', '40s');
    try {
      await until(async () => (await status(w)).kafka.detect.records === records.length, 30_000);
      await until(() => caughtUp('idle-detect', undefined, 'idle_calls'), 25_000, 500);
      expect(Date.now() - started).toBeLessThan(40_000);
      expect((await status(w)).kafka.detect.calls).toBeGreaterThan(0);
    } finally {
      await stopped(w);
    }
  }, 90_000);
});
