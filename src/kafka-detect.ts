/**
 * The Kafka detect stage: a consumer group on the internal calls topic. Records are keyed by
 * agent id, so each worker owns the agents of its partitions and sees their calls in order.
 *
 * State moves with the partitions. Every commit interval, the whole state of every agent touched
 * since the last commit (Engine.exportAgents: baseline, open and recently closed chains, rollup
 * windows, quarantined chains) goes to a compacted changelog topic, keyed by agent id, into the
 * same partition number as the calls it came from, stamped with the offset of the last call applied. When a partition is assigned, its
 * changelog partition is read back and its agents adopted; when one is taken away, its agents
 * fall back to their learned baseline. Each commit, in this order: alerts and revocations durable
 * (`durable()`), changelog acknowledged, offsets committed. A worker killed between any two steps
 * loses nothing: the next owner re-reads from the committed offset, skips calls the changelog
 * state already holds (offset stamp), and any alert raised again carries the same deterministic
 * id. Committing on an interval rather than per batch keeps round trips to the broker off the
 * per-record path; the interval bounds how much a failover re-reads.
 */
import { CompressionTypes, type Consumer, type EachBatchPayload, type Kafka, type Message, type Producer } from 'kafkajs';
import { type CallItem, CallRecordError, decodeCalls } from './call-wire.js';
import type { AgentJson, AgentRecord, Engine } from './engine.js';
import { type ChangelogValue, decodeChangelogValue, encodeChangelogValue, stampOf } from './changelog-value.js';
import { registerKafkaCodecs } from './kafka-codecs.js';
import { changelogEnds, readChangelog } from './kafka-changelog.js';
import { StateError } from './errors.js';
import { FETCH_BYTES_PER_PARTITION, type StageError, noteStageError, stageSession } from './kafka-config.js';
import { BatchDrain } from './kafka-drain.js';

export interface DetectCounters extends StageError {
  records: number; calls: number; closes: number; malformed: number;
  /** Calls re-read after a failover that the restored state already held. */
  skipped: number;
  restores: number; agentsRestored: number;
  /** Changelog records that could not be read: their agents fell back to their learned baseline. */
  restoreErrors: number;
  changelogRecords: number; changelogBytes: number;
  commits: number; commitErrors: number;
  partitions: number[];
  /** Group generations joined, and when the last one was (ISO time). */
  rebalances: number; lastRebalanceAt?: string;
}

export interface DetectOptions {
  groupId: string;
  calls: string;
  changelog: string;
  sessionTimeoutMs: number;
  /** How often state is written to the changelog and offsets committed. */
  commitIntervalMs: number;
  /** A chain whose agent has acted this long (event time) since its last call is closed, close record or not. */
  staleChainMs: number;
  /** A partition read to its end that has had no record for this long (wall clock) is idle: its event time moves on with the clock. */
  idlePartitionMs: number;
}

/** Uncompressed state per changelog produce request (LZ4 leaves each partition's part well under the broker's 1 MB batch limit). */
const CHANGELOG_CHUNK_BYTES = 2 << 20;
/**
 * How long a worker that has read everything waits for more before it commits (at most a quarter
 * of the commit interval): more than two of its fetches' waits (200 ms), so a slow trickle of
 * records, which comes a fetch at a time, does not look quiet between fetches.
 */
const QUIET_MS = 500;
/** How often a batch waiting for a restore begun at assignment heartbeats. */
const HEARTBEAT_WHILE_RESTORING_MS = 1_000;
const noHeartbeat = async (): Promise<void> => {};
/** Agents touched since the last commit beyond which a batch waits for a commit (bounds the next one). */
const MAX_DIRTY_AGENTS = 20_000;

export class KafkaDetect {
  readonly counters: DetectCounters = { records: 0, calls: 0, closes: 0, malformed: 0, skipped: 0, restores: 0, agentsRestored: 0, restoreErrors: 0, changelogRecords: 0, changelogBytes: 0, commits: 0, commitErrors: 0, partitions: [], rebalances: 0 };
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  /** Learned baselines at start: what an agent falls back to when its partition goes away. */
  private readonly base = new Map<string, AgentJson>();
  private readonly applied = new Map<string, number>();
  private readonly partitionOf = new Map<string, number>();
  private held = new Set<number>();
  private readonly toRestore = new Set<number>();
  /** Offset of our last changelog record per partition: if it is still the last, our memory is current. */
  private readonly lastWritten = new Map<number, number>();
  /** Since the last commit: agents touched and the next offset to read, per partition. */
  private dirty = new Map<number, Set<string>>();
  private dirtyCount = 0;
  private next = new Map<number, number>();
  /** Held partitions whose last batch did not reach the partition's end. */
  private readonly behind = new Set<number>();
  /** Per held partition, when (wall clock) its last record was applied, or it was assigned. */
  private readonly lastRead = new Map<number, number>();
  /** A commit due once the stream has been quiet for a moment (see batch). */
  private soon: NodeJS.Timeout | undefined;
  private committing: Promise<void> = Promise.resolve();
  private restoring: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly drain = new BatchDrain();
  private stopping: Promise<void> | undefined;

  constructor(private readonly kafka: Kafka, private readonly engine: Engine, private readonly options: DetectOptions, private readonly durable: () => Promise<void>, private readonly onRecord: () => void = () => {}) {
    // Fetches wait up to 200 ms for 256 KB: fewer, larger batches (the broker's cost is per request).
    this.consumer = kafka.consumer({ groupId: options.groupId, maxBytesPerPartition: FETCH_BYTES_PER_PARTITION, minBytes: 256 << 10, maxWaitTimeInMs: 200, ...stageSession(options.sessionTimeoutMs) });
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    for (const a of engine.snapshot().agents) this.base.set(a.id, a);
  }

  async start(): Promise<void> {
    // The calls topic is LZ4, the Collector's topic any codec: kafkajs knows only gzip by itself.
    registerKafkaCodecs();
    await this.producer.connect();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.assigned(e.payload.memberAssignment[this.options.calls] ?? []);
      // Now, not at the first batch: a partition with nothing new to read brings no batch, and its
      // agents' state (open rollup windows and chains) would wait for its next record — for an
      // agent the kill-switch stopped, for ever. Batches that come meanwhile wait for it.
      this.restoreAssigned(noHeartbeat).catch((err: Error) => {
        noteStageError(this.counters, `restoring partitions: ${err.message}`);
      });
    });
    await this.consumer.subscribe({ topic: this.options.calls, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 8,
      eachBatch: (payload) => this.drain.guard(() => this.batch(payload)),
    });
    this.timer = setInterval(() => void this.commit().catch(() => undefined), this.options.commitIntervalMs);
    this.timer.unref();
  }

  private async batch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (this.toRestore.size > 0 || this.restoring !== undefined) {
      // A restore begun at assignment heartbeats for nobody: this batch does, while it waits.
      const beat = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_WHILE_RESTORING_MS);
      try {
        await this.restoreAssigned(heartbeat);
      } finally {
        clearInterval(beat);
      }
    }
    if (!this.held.has(batch.partition) || isStale()) return;
    let last: string | undefined;
    for (const m of batch.messages) {
      if (!isRunning() || isStale()) break;
      last = m.offset;
      this.counters.records++;
      const agent = m.key === null ? '' : m.key.toString();
      const offset = Number(m.offset);
      if ((this.applied.get(agent) ?? -1) >= offset) {
        this.counters.skipped++;
        continue;
      }
      let items: CallItem[];
      try {
        items = decodeCalls(m.value ?? '');
      } catch (err) {
        if (!(err instanceof CallRecordError)) throw err;
        this.counters.malformed++;
        continue;
      }
      for (const item of items) this.apply(item);
      this.applied.set(agent, offset);
      this.partitionOf.set(agent, batch.partition);
      this.markDirty(batch.partition, agent);
    }
    this.onRecord();
    if (last === undefined) return;
    this.lastRead.set(batch.partition, Date.now());
    resolveOffset(last);
    this.next.set(batch.partition, Number(last) + 1);
    if (Number(last) + 1 >= Number(batch.highWatermark)) this.behind.delete(batch.partition);
    else this.behind.add(batch.partition);
    // Caught up everywhere: once nothing new has come for a moment, make it durable now rather
    // than at the next tick. Not at once: a worker that keeps up with a steady stream is caught up
    // after nearly every batch, and each commit writes the whole state of every agent touched
    // since the last one (the Kafka bench wrote 1,113 changelog records that way, 633–912 now).
    if (this.behind.size === 0) this.commitWhenQuiet();
    else this.cancelQuietCommit();
    if (this.dirtyCount >= MAX_DIRTY_AGENTS) await this.commit();
    // A batch returns only once no commit is in flight: the group rejoins after batches
    // return, so a commit never writes state for partitions that have moved on.
    await this.committing;
    await heartbeat();
  }

  /**
   * Make what was processed since the last commit durable, in order: alerts and revocations,
   * the changelog state of every agent touched, then the offsets. One at a time. The state and
   * offsets are taken at the same synchronous moment, so they agree; a failed commit leaves the
   * offsets where they were (the next owner re-reads, the offset stamps skip what state holds).
   */
  commit(): Promise<void> {
    const run = this.committing.then(async () => {
      // After any restore in flight; one that failed at assignment is tried again here (a
      // partition with nothing to read brings no batch to try it).
      if (this.toRestore.size > 0 || this.restoring !== undefined) await this.restoreAssigned(noHeartbeat);
      this.closeStale();
      if (this.next.size === 0 && this.dirtyCount === 0) return;
      const dirty = this.dirty;
      const next = this.next;
      this.dirty = new Map();
      this.next = new Map();
      this.dirtyCount = 0;
      // One export for every partition: it walks the open chains and rollups once.
      const agents = new Set<string>();
      for (const [partition, ids] of dirty) if (this.held.has(partition)) for (const id of ids) agents.add(id);
      const records = this.engine.exportAgents(agents);
      try {
        await this.durable();
        await this.writeChangelog(dirty, records);
        const offsets = [...next].filter(([p]) => this.held.has(p)).map(([partition, offset]) => ({ topic: this.options.calls, partition, offset: String(offset) }));
        if (offsets.length) await this.consumer.commitOffsets(offsets);
        this.counters.commits++;
      } catch (err) {
        this.counters.commitErrors++;
        noteStageError(this.counters, (err as Error).message);
        throw err;
      }
    });
    this.committing = run.catch(() => undefined);
    return run;
  }

  /** A commit once no batch has come for QUIET_MS (each batch that comes puts it off again). */
  private commitWhenQuiet(): void {
    clearTimeout(this.soon);
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.commit().catch(() => undefined);
    }, Math.min(QUIET_MS, this.options.commitIntervalMs / 4));
    this.soon.unref();
  }

  private cancelQuietCommit(): void {
    clearTimeout(this.soon);
    this.soon = undefined;
  }

  /**
   * The backstop for chains whose close record was lost, and the close of quiet agents' rollup
   * windows (see Engine.closeStale), by each partition's event time: the latest call of its
   * agents, which a new owner recovers from their restored state — and, once the partition is
   * read to its end and idle, that plus the wall-clock time it has been idle (as `serve` moves on
   * when its input idles: with few agents a partition may hold a single one, quiet for good once
   * the kill-switch has stopped it). Their agents are saved with the next commit.
   */
  private closeStale(): void {
    const times = new Map<number, number>();
    for (const [agent, p] of this.partitionOf) {
      const t = this.engine.lastSeenOf(agent);
      if (t !== undefined && t > (times.get(p) ?? Number.NEGATIVE_INFINITY)) times.set(p, t);
    }
    const wall = Date.now();
    for (const [p, t] of times) {
      const idle = wall - (this.lastRead.get(p) ?? wall);
      if (idle >= this.options.idlePartitionMs && !this.behind.has(p)) times.set(p, t + idle);
    }
    const timeOf = (agent: string): number => times.get(this.partitionOf.get(agent) ?? -1) ?? Number.NEGATIVE_INFINITY;
    for (const agent of this.engine.closeStale(this.options.staleChainMs, timeOf)) {
      const p = this.partitionOf.get(agent);
      if (p !== undefined && this.held.has(p)) this.markDirty(p, agent);
    }
  }

  private markDirty(partition: number, agent: string): void {
    let touched = this.dirty.get(partition);
    if (touched === undefined) this.dirty.set(partition, (touched = new Set()));
    if (!touched.has(agent)) {
      touched.add(agent);
      this.dirtyCount++;
    }
  }

  private apply(item: CallItem): void {
    if (item.t === 'call') {
      this.counters.calls++;
      this.engine.ingestCall(item.call);
    } else {
      this.counters.closes++;
      this.engine.closeChain(item.traceId);
    }
  }

  /** A new generation of the group: note what to restore and drop what went to other workers. */
  private assigned(partitions: number[]): void {
    this.counters.rebalances++;
    this.counters.lastRebalanceAt = new Date().toISOString();
    const now = new Set(partitions);
    for (const p of this.held) if (!now.has(p)) this.release(p);
    for (const p of now) {
      this.toRestore.add(p);
      if (!this.held.has(p)) this.lastRead.set(p, Date.now());
    }
    this.held = now;
    this.counters.partitions = [...now].sort((a, b) => a - b);
  }

  private release(p: number): void {
    this.toRestore.delete(p);
    this.lastWritten.delete(p);
    // Not ours to write any more: the next owner re-reads from the last commit.
    this.dirty.delete(p);
    this.next.delete(p);
    this.behind.delete(p);
    this.lastRead.delete(p);
    for (const [agent, q] of this.partitionOf) if (q === p) this.reset(agent);
  }

  private reset(agent: string): void {
    this.engine.resetAgent(agent, this.base.get(agent));
    this.applied.delete(agent);
    this.partitionOf.delete(agent);
  }

  /** Restore every partition assigned and not yet restored, one restore at a time (a rebalance during one adds more). */
  private async restoreAssigned(heartbeat: () => Promise<void>): Promise<void> {
    do {
      this.restoring ??= this.restore([...this.toRestore], heartbeat).finally(() => (this.restoring = undefined));
      await this.restoring;
    } while (this.toRestore.size > 0);
  }

  /**
   * Bring the agents of these partitions up to their changelog. A partition we kept through the
   * rebalance, whose changelog still ends with our own last record, is current and not re-read.
   */
  private async restore(partitions: number[], heartbeat: () => Promise<void>): Promise<void> {
    const ends = await changelogEnds(this.kafka, this.options.changelog);
    const stale = partitions.filter((p) => {
      const end = ends.get(p) ?? { low: 0, high: 0 };
      const ours = this.lastWritten.get(p);
      return end.high > 0 && !(ours !== undefined && ours === end.high - 1);
    });
    for (const p of partitions) this.toRestore.delete(p);
    if (stale.length === 0) return;
    this.counters.restores++;
    // The highest offset stamp wins, not the last write: a late write from a worker that has lost
    // the partition cannot take an agent's state back.
    let latest: Awaited<ReturnType<typeof readChangelog>>;
    try {
      latest = await readChangelog(this.kafka, this.options.changelog, this.options.groupId, stale, ends, heartbeat, (prev, next) => stampOf(next) < stampOf(prev));
    } catch (err) {
      // Still to restore: the next attempt reads them again (those still ours).
      for (const p of stale) if (this.held.has(p)) this.toRestore.add(p);
      throw err;
    }
    for (const p of stale) {
      for (const [agent, q] of this.partitionOf) if (q === p) this.reset(agent);
      this.lastWritten.delete(p);
    }
    for (const [agent, { partition, value }] of latest) {
      // Given to another worker while it was read (a restore begun at assignment runs beside the
      // group's rebalances): its agents are the new owner's to restore.
      if (!this.held.has(partition)) continue;
      if (value === null) {
        this.reset(agent);
        continue;
      }
      let v: ChangelogValue;
      try {
        v = decodeChangelogValue(value);
        this.engine.adoptAgent(v.state); // replaces whatever the engine held for the agent
      } catch (err) {
        if (!(err instanceof StateError)) throw err;
        // Not readable (damaged, or a version this release does not know): the agent starts again
        // from its learned baseline, as a new owner without a changelog would, instead of the
        // partition failing to restore on every attempt.
        this.counters.restoreErrors++;
        noteStageError(this.counters, `restoring ${agent}: ${err.message}`);
        this.reset(agent);
        continue;
      }
      this.applied.set(agent, v.offset);
      this.partitionOf.set(agent, partition);
      this.counters.agentsRestored++;
    }
  }

  /**
   * The state of every touched agent that has a baseline, each to its own partition of the
   * changelog, in as few produce requests as the chunk size allows: one request carries all
   * partitions (one round trip per chunk, not per partition — batches wait while a commit runs).
   * LZ4, like the calls topic.
   */
  private async writeChangelog(dirty: Map<number, Set<string>>, records: Map<string, AgentRecord>): Promise<void> {
    let chunk: Message[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      const perPartition = new Map<number, number>();
      for (const m of chunk) perPartition.set(m.partition!, (perPartition.get(m.partition!) ?? 0) + 1);
      const meta = await this.producer.send({ topic: this.options.changelog, messages: chunk, acks: -1, compression: CompressionTypes.LZ4 });
      for (const [partition, n] of perPartition) {
        const base = meta.find((r) => r.partition === partition)?.baseOffset;
        if (base !== undefined) this.lastWritten.set(partition, Number(base) + n - 1);
      }
      this.counters.changelogRecords += chunk.length;
      this.counters.changelogBytes += bytes;
      chunk = [];
      bytes = 0;
    };
    for (const [partition, agents] of dirty) {
      if (!this.held.has(partition)) continue;
      for (const agent of agents) {
        const state = records.get(agent);
        if (state === undefined) continue;
        const value = encodeChangelogValue({ offset: this.applied.get(agent)!, state });
        chunk.push({ key: agent, value, partition });
        bytes += value.length;
        if (bytes >= CHANGELOG_CHUNK_BYTES) await flush();
      }
    }
    await flush();
  }

  /**
   * Stop fetching, let running batches finish, commit what was processed, leave the group. The
   * commit comes before leaving: kafkajs cannot commit for a consumer that has stopped.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.timer);
      clearTimeout(this.soon);
      // Paused: no refetching of batches refused while draining; still in the group to commit.
      this.consumer.pause([{ topic: this.options.calls }]);
      await this.drain.close();
      await this.commit().catch(() => undefined);
      await this.consumer.disconnect();
      await this.producer.disconnect();
    })();
    return this.stopping;
  }
}

/** The changelog topic of a detect group: one per group, as Kafka Streams names its stores. */
export function changelogTopic(groupId: string): string {
  return `${groupId}-state-changelog`;
}
