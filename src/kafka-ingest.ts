/**
 * The Kafka ingest stage: consumes `otlp_spans` as the Collector's kafka exporter writes it
 * (otlp_proto or otlp_json, detected per record; key = trace id or null; any codec of
 * src/kafka-codecs.ts), decodes, normalizes, joins agent identity by trace, and produces
 * AgentCall records keyed by agent id to the internal calls topic — plus a `close` record when it
 * closes a chain (root span done, or idle), so the detect stage closes chains exactly when a
 * single process would. Records that cannot be decoded go to the dead-letter topic with the
 * reason in headers, and are counted; the stage keeps going.
 *
 * Offsets are committed every commit interval, and only up to the first record an open trace
 * still needs (ChainAssembler.heldOffsets) and the output of everything before is acknowledged:
 * a worker that dies loses nothing — its successor reads the open traces' spans again. What it
 * had already sent of those traces is sent again; the detect stage drops calls it already has.
 */
import { CompressionTypes, type Consumer, type Kafka, type Message, type Producer } from 'kafkajs';
import { type CallItem, encodeCalls } from './call-wire.js';
import { ChainAssembler, type ChainListener } from './chains.js';
import { registerKafkaCodecs } from './kafka-codecs.js';
import { BatchDrain } from './kafka-drain.js';
import { readMetadata } from './kafka-lag.js';
import { pushTo } from './multimap.js';
import type { EngineConfig } from './engine.js';
import { FETCH_BYTES_PER_PARTITION, type KafkaTopics, type StageError, noteStageError, stageSession } from './kafka-config.js';
import { ChainwatchError } from './errors.js';
import { Normalizer } from './normalize.js';
import { decodeTraceRequestJson, selectSpansJson } from './otlp-json.js';
import { decodeTraceRequest, selectSpans } from './otlp-proto.js';
import { type DecodedBatch, type RawSpan, type SpanTimeWindow, dropMisdatedSpans, misdated, spanProblem } from './span.js';

/** Uncompressed bytes per produce request: spread over the partitions and LZ4-compressed, each partition's record batch stays well under the broker's 1 MB default. */
const SEND_BYTES = 2 << 20;
/** Records (of ~100 spans) decoded between turns of the event loop (and of the partitions read concurrently): ~15 ms of work. */
const YIELD_RECORDS = 16;
/** One record carries at most this much of one agent's calls. */
const RECORD_BYTES = 256 << 10;
/**
 * Output built but not yet acknowledged beyond which a batch waits for the broker: below it,
 * sends overlap with decoding (the detect stage starts on the first calls while ingest is still
 * reading), above it the consumer slows to the broker's pace instead of growing memory.
 */
const MAX_UNACKED_BYTES = 16 << 20;

/** `callBytes`: bytes of calls-topic records built, before compression. */
export interface IngestCounters extends StageError { records: number; spans: number; spansRejected: number; spansSkewed: number; spansTooOld: number; calls: number; closes: number; callBytes: number; deadLettered: number; produceErrors: number; commits: number; commitErrors: number; rebalances: number; lastRebalanceAt?: string }

export interface IngestOptions {
  groupId: string;
  sessionTimeoutMs: number;
  /** How often offsets are committed (after the output before them is acknowledged). */
  commitIntervalMs: number;
  /**
   * How far back (wall clock) an open trace may hold a partition's committed offset: a trace
   * open longer than this (a delegation active for hours) would otherwise hold it for hours, and a
   * successor would read all of that again. Past it, such a trace's earliest spans are not read again.
   */
  maxHoldMs: number;
  /** Bytes of calls built and not yet acknowledged beyond which a batch waits (default 16 MB). */
  maxUnackedBytes?: number;
}

/**
 * How far back an open trace may hold a partition's commit: the offset that had already been
 * read `maxHoldMs` ago (wall clock), from the read positions seen at each commit.
 */
export class HoldLimit {
  /** Per partition: [time, next offset] at each commit within maxHoldMs (and the last before), oldest first. */
  private readonly reads = new Map<number, [number, number][]>();

  constructor(private readonly maxHoldMs: number) {}

  /** Record `next` as read at `now`; the least offset a commit of this partition may hold. */
  floor(partition: number, next: number, now: number): number {
    let marks = this.reads.get(partition);
    if (marks === undefined) this.reads.set(partition, (marks = []));
    marks.push([now, next]);
    while (marks.length > 1 && marks[1][0] <= now - this.maxHoldMs) marks.shift();
    return marks[0][0] <= now - this.maxHoldMs ? marks[0][1] : 0;
  }

  /** Forget partitions that moved to another worker. */
  keepOnly(partitions: Set<number>): void {
    for (const p of [...this.reads.keys()]) if (!partitions.has(p)) this.reads.delete(p);
  }
}

/**
 * Events gathered per agent as objects, then serialized as one record per agent (split when
 * large; src/call-wire.ts): one serialization per record, not one per call joined into a second
 * string and copied into a third (a heap profile of the stage had those three copies at a third of
 * its allocation). Record sizes are known only once serialized, so they are planned from the bytes
 * per event seen so far, and a record that still comes out too large is split in half.
 */
export class AgentBatches {
  private readonly pending = new Map<string, CallItem[]>();
  private events = 0;
  /** Serialized bytes per event, from what was drained so far (a call is about 400 bytes). */
  private perEvent = 400;

  constructor(private readonly recordBytes = RECORD_BYTES) {}

  add(agent: string, item: CallItem): void {
    pushTo(this.pending, agent, item);
    this.events++;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Bytes gathered since the last drain, estimated. */
  get bytes(): number {
    return this.events * this.perEvent;
  }

  drain(): Message[] {
    const out: Message[] = [];
    let bytes = 0;
    const most = Math.max(1, Math.floor(this.recordBytes / this.perEvent));
    for (const [key, items] of this.pending) {
      for (let i = 0; i < items.length; i += most) bytes += this.encode(key, items.length <= most ? items : items.slice(i, i + most), out);
    }
    if (this.events > 0) this.perEvent = Math.max(64, Math.ceil(bytes / this.events));
    this.pending.clear();
    this.events = 0;
    return out;
  }

  private encode(key: string, items: CallItem[], out: Message[]): number {
    const value = encodeCalls(items);
    if (value.length <= this.recordBytes || items.length === 1) {
      out.push({ key, value });
      return value.length;
    }
    const half = items.length >> 1;
    return this.encode(key, items.slice(0, half), out) + this.encode(key, items.slice(half), out);
  }
}

/** Chain events as events of the calls topic, with the agent whose partition they go to (so one agent stays in one partition). */
export function callEvents(push: (agent: string, item: CallItem) => void): ChainListener {
  return {
    call: (call) => push(call.agent.id, { t: 'call', call }),
    close: (chain) => push(chain.agent.id, { t: 'close', traceId: chain.traceId }),
  };
}

/** otlp_json starts with '{' (after optional whitespace); protobuf never does for a valid request. */
function isJson(value: Buffer): boolean {
  let i = 0;
  while (i < value.length && (value[i] === 0x20 || value[i] === 0x0a || value[i] === 0x0d || value[i] === 0x09)) i++;
  return value[i] === 0x7b;
}

export class KafkaIngest {
  readonly counters: IngestCounters = { records: 0, spans: 0, spansRejected: 0, spansSkewed: 0, spansTooOld: 0, calls: 0, closes: 0, callBytes: 0, deadLettered: 0, produceErrors: 0, commits: 0, commitErrors: 0, rebalances: 0 };
  private readonly norm: Normalizer;
  private readonly assembler: ChainAssembler;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly commitIntervalMs: number;
  private readonly timeWindow: SpanTimeWindow;
  private readonly maxUnackedBytes: number;
  private readonly batches = new AgentBatches();
  /** Records built and not yet acknowledged, oldest first. */
  private out: Message[] = [];
  private timer: NodeJS.Timeout | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  /** Per partition of the spans topic we own: the next offset to read, its records' output acknowledged. */
  private readonly next = new Map<number, number>();
  private committing: Promise<void> = Promise.resolve();
  private readonly hold: HoldLimit;
  private readonly drain = new BatchDrain();
  private lastRecord = Date.now();
  private lastTick = Date.now();
  private sending: Promise<void> = Promise.resolve();
  /** A send is queued and has not yet taken its records (another would find nothing new). */
  private sendWaiting = false;
  /** Records decoded since the event loop last had a turn. */
  private sinceYield = 0;
  /** Bytes of calls taken by a send (or queued again after a failed one) and not yet acknowledged. */
  private unacked = 0;
  private stopping: Promise<void> | undefined;
  /** Per partition of the spans topic: latest span end read, and whether it is read to its end. */
  private readonly partitions = new Map<number, { maxEnd: number; caughtUp: boolean }>();

  constructor(kafka: Kafka, private readonly topics: KafkaTopics, engine: EngineConfig, options: IngestOptions) {
    this.norm = new Normalizer(engine.normalize);
    this.assembler = new ChainAssembler(this.norm, callEvents((agent, item) => {
      this.counters[item.t === 'close' ? 'closes' : 'calls']++;
      this.batches.add(agent, item);
    }), engine.chains);
    // Fetches wait at most 100 ms for data: leaving the group (at shutdown) waits for the fetch in
    // flight, which at 500 ms was most of a stop (the Kafka bench's stop took ~520 ms, ~480 of them
    // leaving); an idle consumer then asks ten times a second, which costs the broker next to nothing.
    this.consumer = kafka.consumer({
      groupId: options.groupId, maxBytesPerPartition: FETCH_BYTES_PER_PARTITION, maxWaitTimeInMs: 100,
      ...stageSession(options.sessionTimeoutMs),
    });
    this.commitIntervalMs = options.commitIntervalMs;
    this.timeWindow = engine.chains;
    this.maxUnackedBytes = options.maxUnackedBytes ?? MAX_UNACKED_BYTES;
    this.hold = new HoldLimit(options.maxHoldMs);
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
  }

  async start(): Promise<void> {
    // The calls topic is LZ4, the Collector's topic any codec: kafkajs knows only gzip by itself.
    registerKafkaCodecs();
    await this.producer.connect();
    await this.consumer.connect();
    // A partition that moved to another ingest worker no longer holds our event time back.
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.counters.rebalances++;
      this.counters.lastRebalanceAt = new Date().toISOString();
      const mine = new Set(e.payload.memberAssignment[this.topics.spans] ?? []);
      for (const p of [...this.partitions.keys()]) if (!mine.has(p)) this.partitions.delete(p);
      for (const p of [...this.next.keys()]) if (!mine.has(p)) this.next.delete(p);
      this.hold.keepOnly(mine);
    });
    await this.consumer.subscribe({ topic: this.topics.spans, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 4,
      eachBatch: (payload) => this.drain.guard(async () => {
        const { batch, resolveOffset, heartbeat, isRunning } = payload;
        const dead: Message[] = [];
        let last: string | undefined;
        const part = this.partitions.get(batch.partition);
        if (part) part.caughtUp = false;
        const deadLetter = (m: Message & { offset: string }, error: string, value = m.value): void => {
          this.counters.deadLettered++;
          dead.push({
            key: m.key, value, headers: {
              'chainwatch-error': error.slice(0, 500), 'chainwatch-source-topic': batch.topic,
              'chainwatch-source-partition': String(batch.partition), 'chainwatch-source-offset': m.offset,
            },
          });
        };
        for (const m of batch.messages) {
          if (!isRunning()) break;
          this.counters.records++;
          try {
            const decoded = this.decode(m.value);
            const now = Date.now();
            const eventTime = this.assembler.now; // before this record's spans move it
            const dated = dropMisdatedSpans(decoded, now, eventTime, this.timeWindow);
            this.ingest(decoded.spans, batch.partition, Number(m.offset));
            if (decoded.rejected > 0) {
              this.counters.spansRejected += decoded.rejected;
              this.counters.spansSkewed += dated.ahead;
              this.counters.spansTooOld += dated.old;
              // Its rejected spans alone, as they came: its good spans went on, and publishing the
              // dead letter again (its sender's clock mended) must not send them twice.
              const rejected = (s: RawSpan | undefined): boolean => s === undefined || spanProblem(s) !== undefined || misdated(s, now, eventTime, this.timeWindow) !== undefined;
              deadLetter(m, `rejected ${decoded.rejected} of ${decoded.rejected + decoded.spans.length} spans, which this record holds (the rest were ingested): ${decoded.reasons.join('; ')}`, this.select(m.value!, rejected));
            }
          } catch (err) {
            deadLetter(m, (err as Error).message);
          }
          last = m.offset;
          // Calls leave as they are built, not when the whole fetch (megabytes) is decoded: the
          // detect stage works while we read. The event loop gets a turn at each send and every
          // YIELD_RECORDS records between: a send moves one step (request out, response in) per
          // turn, and the partitions read concurrently take turns — with turns only at sends, most
          // of one partition's fetch (days of event time) went before the next's, an agent's calls
          // reached detect days out of order, and false positives rose ~3× (docs/accuracy.md).
          // A failed send keeps its records for the next one (and a commit waits for all of them).
          const sendNow = this.batches.bytes >= SEND_BYTES && !this.sendWaiting;
          if (sendNow) this.send([]).catch(() => undefined);
          if (sendNow || ++this.sinceYield >= YIELD_RECORDS) {
            this.sinceYield = 0;
            await new Promise((r) => setImmediate(r));
          }
        }
        this.lastRecord = Date.now();
        const read = this.partitions.get(batch.partition);
        if (read && last !== undefined) read.caughtUp = Number(last) + 1 >= Number(batch.highWatermark);
        // Dead letters are waited for (a failed send of them fails the batch, which is read
        // again); calls only when too much is unacknowledged. Offsets move on either way: a
        // commit sends and waits for everything built before it.
        const sent = this.send(dead);
        if (dead.length || this.unacked + this.batches.bytes > this.maxUnackedBytes) await sent;
        else sent.catch(() => undefined);
        if (last !== undefined) {
          resolveOffset(last);
          this.next.set(batch.partition, Number(last) + 1);
        }
        await heartbeat();
      }),
    });
    this.timer = setInterval(() => this.tick(), 500);
    this.timer.unref();
    this.commitTimer = setInterval(() => void this.commit().catch((err: Error) => {
      this.counters.commitErrors++;
      noteStageError(this.counters, err.message);
    }), this.commitIntervalMs);
    this.commitTimer.unref();
  }

  /**
   * Commit, per partition, the next offset to read or the first one an open trace still needs,
   * whichever is less — after everything emitted so far is acknowledged. Offsets and the output
   * to send are taken at one synchronous moment, so no record's output is left behind its offset.
   */
  private commit(): Promise<void> {
    // After a failed commit, the next one still runs (it supersedes the failed one).
    this.committing = this.committing.catch(() => undefined).then(async () => {
      const held = this.assembler.heldOffsets();
      // The read position goes along as the commit's metadata: lag is measured from it (work not
      // yet done), while a successor starts from the held offset.
      const offsets = [...this.next].map(([partition, next]) => ({
        topic: this.topics.spans, partition, offset: String(Math.max(this.hold.floor(partition, next, Date.now()), Math.min(next, held.get(partition) ?? next))), metadata: readMetadata(next),
      }));
      await this.send([]);
      if (offsets.length) await this.consumer.commitOffsets(offsets);
      this.counters.commits++;
    });
    return this.committing;
  }

  private decode(value: Buffer | null): DecodedBatch {
    if (value === null || value.length === 0) throw new ChainwatchError('empty record: expected an OTLP ExportTraceServiceRequest');
    const filter = this.norm.filter;
    return isJson(value) ? decodeTraceRequestJson(value.toString('utf8'), filter) : decodeTraceRequest(value, filter);
  }

  /** The spans `pick` chooses out of a record that decoded, in the record's own encoding. */
  private select(value: Buffer, pick: (span: RawSpan | undefined) => boolean): Buffer {
    const filter = this.norm.filter;
    return isJson(value) ? Buffer.from(selectSpansJson(value.toString('utf8'), filter, pick)) : selectSpans(value, filter, pick);
  }

  /**
   * Event time is the low watermark of the partitions: the least of each partition's latest span
   * end, over the partitions that still have records to read. A partition read ahead of another
   * then cannot time out the other's traces, so the chains built depend on what each partition
   * holds, not on how reads interleave; a partition read to its end has nothing more that could
   * join its open traces, and stops holding the others back.
   */
  private ingest(spans: RawSpan[], partition: number, offset: number): void {
    this.counters.spans += spans.length;
    const kept = spans.filter((s) => !this.norm.isSelf(s.resource));
    let p = this.partitions.get(partition);
    if (p === undefined) this.partitions.set(partition, (p = { maxEnd: 0, caughtUp: false }));
    for (const s of kept) if (s.endMs > p.maxEnd) p.maxEnd = s.endMs;
    this.assembler.addBatch(kept, this.lowWatermark(p.maxEnd), { partition, offset });
  }

  private lowWatermark(fallback: number): number {
    let low = Number.POSITIVE_INFINITY;
    for (const p of this.partitions.values()) if (!p.caughtUp && p.maxEnd < low) low = p.maxEnd;
    return low === Number.POSITIVE_INFINITY ? fallback : low;
  }

  /** With no records, move event time on by the wall-clock time that passed (as the HTTP service does). */
  private tick(): void {
    const now = Date.now();
    if (now - this.lastRecord >= 500 && this.assembler.now > 0) this.assembler.advance(this.assembler.now + (now - this.lastTick));
    this.lastTick = now;
    // A failed send keeps its records (send puts them back) and is retried on the next tick.
    if (this.out.length || this.batches.size) void this.send([]).catch(() => undefined);
  }

  /**
   * Produce what the assembler emitted (and dead letters), in chunks that stay under the broker's
   * record-batch limit, LZ4-compressed; one send at a time, in order. What a send takes is taken
   * when it runs, not when it was asked for: records an earlier send failed to deliver went back
   * to the front of the queue and go out first — so a commit, which asks for a send after taking
   * its offsets, is acknowledged only once everything built before those offsets is. On failure
   * the error reaches the caller (counted; the records stay queued for the next send).
   */
  private send(dead: Message[]): Promise<void> {
    this.sendWaiting = true;
    const next = this.sending.then(async () => {
      this.sendWaiting = false;
      const fresh = this.batches.drain();
      for (const m of fresh) {
        const n = (m.value as Buffer).length;
        this.unacked += n;
        this.counters.callBytes += n;
      }
      const out = this.out.concat(fresh);
      this.out = [];
      let i = 0;
      try {
        while (i < out.length) {
          let j = i;
          let bytes = 0;
          for (; j < out.length && (j === i || bytes < SEND_BYTES); j++) bytes += (out[j].value as Buffer).length;
          await this.producer.send({ topic: this.topics.calls, messages: out.slice(i, j), acks: -1, compression: CompressionTypes.LZ4 });
          this.unacked -= bytes;
          i = j;
        }
        if (dead.length) await this.producer.send({ topic: this.topics.dlq, messages: dead, acks: -1 });
      } catch (err) {
        this.counters.produceErrors++;
        noteStageError(this.counters, (err as Error).message);
        // Still unacknowledged (and still counted): back to the front of the queue.
        this.out = out.slice(i).concat(this.out);
        throw err;
      }
    });
    this.sending = next.catch(() => undefined);
    return next;
  }

  /**
   * Stop taking batches, close every open chain, produce the rest and commit it all — before
   * leaving the group (kafkajs cannot commit after). Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.timer);
      clearInterval(this.commitTimer);
      // Paused, the consumer stops fetching (batches refused while draining would be fetched again
      // and again); it stays in the group, so the last commit below still goes through.
      this.consumer.pause([{ topic: this.topics.spans }]);
      await this.drain.close();
      this.assembler.flush();
      await this.commit().catch(() => undefined);
      await this.consumer.disconnect();
      await this.producer.disconnect();
    })();
    return this.stopping;
  }
}
