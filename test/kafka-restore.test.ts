/**
 * The Kafka detect stage's restore from its changelog when it does not go smoothly, against a
 * real broker (deploy/kafka.sh), with KafkaDetect in this process so the test can hold back or
 * fail the one step it is about: the read of the changelog (a throwaway consumer group per
 * restore). Everything else — the group, its rebalances, the topics, the commits — is the real
 * client on the real broker.
 *
 *  - A restore that fails (the broker unreachable for the read) is tried again, though the
 *    partitions have nothing new to read and so bring no batch to try it: the agents come back
 *    with their state, not at their learned baseline.
 *  - A rebalance while a restore is reading gives a partition to another worker: the first worker
 *    does not adopt that partition's agents from what it read (their state is the new owner's),
 *    and the new owner restores them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { Engine, type EngineSnapshot } from '../src/engine.js';
import { KafkaDetect, changelogTopic } from '../src/kafka-detect.js';
import { simulate } from '../src/simulate.js';
import { learnedEngine } from './helpers/learned.js';
import { callsTopic } from './helpers/calls.js';
import { until } from './helpers/until.js';

const script = fileURLToPath(new URL('../deploy/kafka.sh', import.meta.url));
const port = 19292;
const env = { ...process.env, KAFKA_DIR: mkdtempSync(join(tmpdir(), 'chainwatch-kafka-rs-')), KAFKA_PORT: String(port) };
const kafka = new Kafka({ clientId: 'chainwatch-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
const workers: KafkaDetect[] = [];

beforeAll(() => {
  execFileSync('bash', [script, 'start'], { env, stdio: 'pipe', timeout: 180_000 });
}, 200_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
  execFileSync('bash', [script, 'stop'], { env, stdio: 'pipe', timeout: 60_000 });
  rmSync(env.KAFKA_DIR, { recursive: true, force: true });
}, 90_000);

const sim = simulate({ seed: 71, agentsPerRole: 2, historyDays: 2, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 10 });
const learned: EngineSnapshot = learnedEngine(sim.history).snapshot();
const records = callsTopic(sim.live);
const agents = [...new Set(records.map((r) => r.key))].sort();
/** Agents alternate between the two partitions, so each partition has some. */
const partitionOf = new Map(agents.map((a, i) => [a, i % 2]));

/** The real client; `onRestoreRead` runs before each changelog read connects (it may wait, or throw). */
function withRestoreHook(onRestoreRead: () => Promise<void>): Kafka {
  return new Proxy(kafka, {
    get(target, prop) {
      if (prop !== 'consumer') return Reflect.get(target, prop, target) as unknown;
      return (config: Parameters<Kafka['consumer']>[0]) => {
        const consumer = target.consumer(config);
        if (!config.groupId.includes('-restore-')) return consumer;
        const connect = consumer.connect.bind(consumer);
        consumer.connect = async () => {
          await onRestoreRead();
          await connect();
        };
        return consumer;
      };
    },
  });
}

/** A two-partition calls topic NAME_calls holding the fleet's live day, and its group's changelog. */
async function topicsFor(name: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: `${name}_calls`, numPartitions: 2 },
      { topic: changelogTopic(name), numPartitions: 2, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ],
  });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: `${name}_calls`, messages: records.map((r) => ({ ...r, partition: partitionOf.get(r.key)! })), acks: -1 });
  await producer.disconnect();
}

/** A detect worker of group NAME on the learned baselines. */
async function worker(name: string, client: Kafka = kafka): Promise<{ detect: KafkaDetect; engine: Engine }> {
  const engine = new Engine();
  engine.restore(structuredClone(learned));
  const detect = new KafkaDetect(client, engine, {
    groupId: name, calls: `${name}_calls`, changelog: changelogTopic(name), sessionTimeoutMs: 6_000, commitIntervalMs: 1_000, staleChainMs: 600_000, idlePartitionMs: 60_000,
  }, async () => {});
  workers.push(detect);
  await detect.start();
  return { detect, engine };
}

/** Each agent's call count: the learned baseline's, or one that took in the live day. */
const callsOf = (engine: Engine): Map<string, number | undefined> => new Map(agents.map((a) => [a, engine.agents.get(a)?.calls]));

/** Run the live day through one worker of group NAME, which commits its state and leaves: the changelog a successor restores. */
async function firstOwner(name: string): Promise<Map<string, number | undefined>> {
  const { detect, engine } = await worker(name);
  await until(() => detect.counters.records === records.length, 30_000);
  await detect.stop();
  return callsOf(engine);
}

describe('Kafka detect restore', () => {
  it('tries a failed restore again, though its partitions bring no batch: agents come back with their state', async () => {
    await topicsFor('rsfail');
    const after = await firstOwner('rsfail');
    const base = callsOf(learnedEngine(sim.history));
    // The live day moved every agent past its learned baseline: a restore that did not happen shows.
    for (const a of agents) expect(after.get(a)).toBeGreaterThan(base.get(a) ?? 0);

    let reads = 0;
    const { detect, engine } = await worker('rsfail', withRestoreHook(async () => {
      if (++reads === 1) throw new Error('injected: the broker did not answer');
    }));
    await until(() => detect.counters.agentsRestored === agents.length, 20_000);
    expect(reads).toBe(2);
    expect(detect.counters.lastError).toBe('restoring partitions: injected: the broker did not answer');
    expect(callsOf(engine)).toEqual(after);
    // The offsets were committed with the state: nothing is read again.
    expect(detect.counters.records).toBe(0);
    await detect.stop();
  }, 90_000);

  it('a rebalance during a restore: the partition given away is not adopted from what was read; its new owner restores it', async () => {
    await topicsFor('rsmove');
    const after = await firstOwner('rsmove');
    const base = callsOf(learnedEngine(sim.history));

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reads = 0;
    const slow = await worker('rsmove', withRestoreHook(async () => {
      // The first read waits until the group has rebalanced; later ones go through.
      if (++reads === 1) await held;
    }));
    await until(() => slow.detect.counters.partitions.length === 2 && reads === 1, 20_000);
    const other = await worker('rsmove');
    await until(() => slow.detect.counters.partitions.length === 1 && other.detect.counters.partitions.length === 1, 30_000);
    await until(() => other.detect.counters.agentsRestored > 0, 20_000);
    const kept = slow.detect.counters.partitions[0];
    release();
    await until(() => slow.detect.counters.agentsRestored > 0 && reads === 2 && slow.detect.counters.restores === 2, 20_000);
    // Let the second restore's adoption finish (it runs right after its read).
    await until(() => agents.filter((a) => partitionOf.get(a) === kept).every((a) => slow.engine.agents.get(a)?.calls === after.get(a)), 10_000);

    for (const a of agents) {
      const mine = partitionOf.get(a) === kept;
      // Each agent's state is where its partition went; the other worker holds its learned baseline.
      expect(slow.engine.agents.get(a)?.calls, a).toBe(mine ? after.get(a) : base.get(a));
      expect(other.engine.agents.get(a)?.calls, a).toBe(mine ? base.get(a) : after.get(a));
    }
    await Promise.all([slow.detect.stop(), other.detect.stop()]);
  }, 120_000);
});
