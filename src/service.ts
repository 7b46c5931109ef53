/**
 * `chainwatch serve` as an object: the OTLP/HTTP receiver feeding the engine, alerts to a JSONL
 * file and stdout, calls, chains and alerts to the event store (SQLite in the state dir, or
 * ClickHouse) through a batching writer, the query API, state restored from and snapshotted to
 * the state dir. Live mode advances event time by wall-clock idle time so quiet traces still
 * close. `stop` drains, flushes and snapshots, and is safe to call twice.
 */
import type { Alert } from './alerts.js';
import { AlertWriter } from './alert-writer.js';
import { runInSteps } from './steps.js';
import { Engine, type EngineConfig, defaultEngineConfig } from './engine.js';
import { BackpressureError, KafkaError, StoreError } from './errors.js';
import { OtlpReceiver, type ReceiverConfig, defaultReceiverConfig } from './receiver.js';
import type { RawSpan } from './span.js';
import { StateStore } from './state-store.js';
import { StateLock } from './state-lock.js';
import { PolicyWatcher } from './policy-watch.js';
import { type KafkaStageMetrics, SelfTelemetry } from './telemetry.js';
import { type Config, defaultStoreConfig } from './config.js';
import { appendFileSync, chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ClickHouseEventStore } from './clickhouse-store.js';
import { type EventStore, alertRow, callRow, chainRow } from './event-store.js';
import { buildQueryApi, type QueryApiConfig } from './query-api.js';
import { audit } from './sqlite-db.js';
import { SqliteInsertThread } from './sqlite-insert-thread.js';
import { SqliteEventStore, localInserter } from './sqlite-store.js';
import { StoreWriter } from './store-writer.js';
import { KillSwitch, type KillSwitchConfig } from './kill-switch.js';
import { SinkRunner, type SinkTransport, troubleLog } from './sinks.js';
import { loadSigner } from './ssf.js';
import { Kafka, logLevel } from 'kafkajs';
import { registerKafkaCodecs } from './kafka-codecs.js';
import type { KafkaConfig } from './kafka-config.js';
import { type TlsFiles, type TlsServer, readTls, watchTls } from './tls-files.js';
import { KafkaDetect, changelogTopic } from './kafka-detect.js';
import { KafkaIngest } from './kafka-ingest.js';
import { ensureTopics } from './kafka-topics.js';
import { LagProbe } from './kafka-lag.js';

/** The few logger methods the service uses (pino's signature). */
export interface ServiceLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ServiceOptions {
  stateDir: string;
  alertsFile?: string;
  receiver?: Partial<ReceiverConfig>;
  engine?: EngineConfig;
  /** Where alerts are echoed (JSON lines unless `pretty`). */
  out?: NodeJS.WritableStream;
  pretty?: boolean;
  snapshotEveryMs?: number;
  onAlert?: (alert: Alert) => void;
  /** Declared-scope policy files, reloaded when they change. */
  policies?: string[];
  log?: ServiceLog;
  /** Self-telemetry (Prometheus scrape endpoint, OTLP export); off when absent. */
  telemetry?: Config['telemetry'];
  /** Drain, flush and snapshot within this long on stop. */
  shutdownDeadlineMs?: number;
  /** The event store; SQLite in the state dir when absent. */
  store?: Config['store'];
  /** The query API; off when absent. The token comes from `token`, else STATE/api-token. */
  api?: QueryApiConfig & { token?: string };
  /** Alert sinks besides the JSONL file (SIEMs, webhooks, Kafka). */
  sinks?: SinkTransport[];
  /** The kill-switch; off when absent. */
  killSwitch?: KillSwitchConfig;
  /** Kafka stages to run in this process (`serve --kafka`). */
  kafka?: KafkaConfig;
}

/** The API token: given, else the state dir's api-token file, created (0600) on first start. */
function apiToken(stateDir: string, given: string | undefined): string {
  if (given !== undefined && given.length > 0) return given;
  const file = join(stateDir, 'api-token');
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

export class Service {
  readonly engine: Engine;
  readonly receiver: OtlpReceiver;
  readonly store: StateStore;
  private readonly writer: AlertWriter;
  private timers: NodeJS.Timeout[] = [];
  private lastArrival = Date.now();
  /** The state save running, if any, and what the last one that ended wrote. */
  private saving: Promise<void> | undefined;
  private lastSave: { at: string; agents: number; deleted: number; ms: number } | { at: string; error: string } | null = null;
  private lastTick = Date.now();
  private stopping?: Promise<void>;
  private policyWatcher?: PolicyWatcher;
  readonly telemetry?: SelfTelemetry;
  metricsUrl?: string;
  private readonly started = Date.now();
  /** The state directory, held from start to stop (one writer per directory). */
  private lock?: StateLock;
  /** What reportKafkaErrors last logged per stage: the brokers' reachability, and the stage's own latest error. */
  private readonly brokerErrors = new Map<string, string | undefined>();
  private readonly stageErrors = new Map<string, string>();
  readonly events: EventStore;
  readonly eventWriter: StoreWriter;
  private api?: FastifyInstance;
  apiUrl?: string;
  readonly sinks: SinkRunner[];
  readonly killSwitch?: KillSwitch;
  private responses: Promise<unknown> = Promise.resolve();
  ingest?: KafkaIngest;
  detect?: KafkaDetect;
  /** Consumer lag per running Kafka stage. */
  readonly lag = new Map<'ingest' | 'detect', LagProbe>();
  /** The engine settings as given (a Kafka detect worker's engine runs with chains' idle timeout off). */
  private readonly engineConfig: EngineConfig;

  constructor(readonly options: ServiceOptions) {
    this.engineConfig = options.engine ?? defaultEngineConfig;
    this.store = new StateStore(options.stateDir);
    this.writer = new AlertWriter(options.alertsFile ?? this.store.alertsPath, options.out, !options.pretty);
    this.writer.onFileError = (err) => {
      if (err !== undefined) options.log?.error({ file: this.writer.file, err: err.message }, 'cannot write the alerts file: alerts are kept in memory and written when it can be; sinks and the event store still get them');
      else options.log?.info({ file: this.writer.file }, 'alerts file written again');
    };
    const storeConfig = options.store ?? defaultStoreConfig;
    // One process on its own: the embedded store writes on a thread of its own, on the core the
    // receiver and engine leave (`npm run bench:serve`: +18% until every call is stored). Not for a
    // Kafka worker: copying rows to the thread costs ~5 µs a row, and workers scale by processes
    // (in the Kafka bench the thread cost detect 0.8–2 CPU-s and the combined run 8–25%).
    const threaded = options.kafka === undefined;
    this.events = storeConfig.kind === 'clickhouse' ? new ClickHouseEventStore(storeConfig.clickhouse, storeConfig.retentionMs)
      : new SqliteEventStore(this.store.db, threaded ? new SqliteInsertThread(this.store.dir) : localInserter(this.store.db));
    this.eventWriter = new StoreWriter(this.events, { ...storeConfig.writer, spillDir: join(options.stateDir, 'spill') }, options.log);
    this.sinks = (options.sinks ?? []).map((t) => {
      const runner = new SinkRunner(t);
      runner.onTrouble = (e) => {
        const { level, fields, message } = troubleLog(t.name, e);
        options.log?.[level](fields, message);
      };
      return runner;
    });
    const publish = (a: Alert): void => {
      this.writer.write(a);
      this.eventWriter.add('alerts', alertRow(a));
      for (const s of this.sinks) s.offer(a);
      options.onAlert?.(a);
    };
    const engineConfig = this.engineConfig;
    // Fed by the Kafka detect stage, chains close only when the ingest stage says so (a close record
    // in the agent's partition, never lost: acknowledged by all replicas, ordered). No idle timeout
    // of our own: a worker's event time is the latest of all its partitions, and one partition read
    // ahead of another would close the other's chains early.
    const detectOnKafka = options.kafka?.stages.includes('detect') === true;
    this.engine = new Engine(detectOnKafka ? { ...engineConfig, chains: { ...engineConfig.chains, idleTimeoutMs: Number.POSITIVE_INFINITY } } : engineConfig, (a) => {
      publish(a);
      const ks = this.killSwitch;
      // One at a time, in alert order: revocations of one credential are recorded in the order raised.
      if (ks !== undefined && a.credential !== undefined) {
        this.responses = this.responses.then(() => ks.onAlert(a)).catch((err: Error) => options.log?.error({ err: err.message, alert: a.id }, 'kill-switch could not record a revocation'));
      }
    });
    if (options.killSwitch) {
      const revoked = this.engine.global.revoked;
      this.killSwitch = new KillSwitch(this.store.db, options.killSwitch, {
        revoked: (credential, at, revocationId) => revoked.set(credential, { at, revocationId }),
        restored: (credential) => revoked.delete(credential),
        alert: publish,
      });
    }
    const events = this.eventWriter;
    this.engine.setRecorder({
      call: storeConfig.recordCalls ? (c) => events.add('calls', callRow(c)) : () => {},
      chain: (ch) => events.add('chains', chainRow(ch)),
    });
    this.store.load(this.engine);
    const shadowFile = join(options.stateDir, 'shadow.jsonl');
    this.engine.setShadowSink((r) => appendFileSync(shadowFile, `${JSON.stringify(r)}\n`));
    if (options.policies?.length) {
      const log = options.log;
      this.policyWatcher = new PolicyWatcher(options.policies, {
        loaded: (p) => {
          this.traced('chainwatch.policy.reload', () => this.engine.setPolicies(p));
          log?.info({ policies: p.size, rules: p.ruleCount }, 'policies reloaded');
        },
        rejected: (err) => log?.error({ issues: err.issues }, `policy change rejected, previous policies stay in force:\n${err.message}`),
      });
      // A bad policy at startup is fatal (PolicyError): nothing unvalidated ever takes effect.
      this.engine.setPolicies(this.policyWatcher.start());
    }
    const receiverConfig = { ...defaultReceiverConfig, ...options.receiver, maxClockSkewMs: engineConfig.chains.maxClockSkewMs, maxSpanAgeMs: engineConfig.chains.maxSpanAgeMs };
    this.receiver = new OtlpReceiver(this.engine.norm.filter, { consume: (spans) => this.consume(spans, receiverConfig.retryAfterSeconds), eventTime: () => this.engine.now }, receiverConfig);
    this.receiver.onTlsReload = (err) => this.tlsReloaded('receiver', receiverConfig.tls!, err);
    // Spans posted to a Kafka worker would reach this process's own engine only: a detect worker's
    // agents are those of its partitions, and an ingest worker's engine is read by no one.
    if (options.kafka) {
      const k = options.kafka;
      this.receiver.refuseTraces = `this chainwatch runs the Kafka ${k.stages.join(' and ')} stage${k.stages.length > 1 ? 's' : ''} and reads its telemetry from the topic ${k.topics.spans}: send OTLP there (the Collector's kafka exporter), or to a chainwatch serve without Kafka`;
    }
    this.receiver.status = () => this.status();
    if (options.telemetry) {
      this.telemetry = new SelfTelemetry(options.telemetry, this.engine, this.receiver, this.eventWriter, { sinks: this.sinks, ...(this.killSwitch ? { killSwitch: this.killSwitch } : {}) }, () => this.kafkaStages());
    }
    if (options.api?.enabled) {
      const db = this.store.db;
      this.api = buildQueryApi({
        store: this.events, engine: this.engine, token: apiToken(options.stateDir, options.api.token),
        jwks: () => this.killSwitch?.signer?.jwks,
        ...(options.api.tls ? { https: readTls(options.api.tls, 'api.tls') } : {}),
        audit: (actor, action, target, detail) => audit(db, Date.now(), actor, action, target, detail),
      });
    }
  }

  /** The running Kafka stages, for metrics (read at scrape time). */
  private kafkaStages(): KafkaStageMetrics[] {
    const out: KafkaStageMetrics[] = [];
    const lag = (stage: 'ingest' | 'detect'): { lag: Record<number, number>; brokersReachable: boolean } => {
      const l = this.lag.get(stage)?.lag;
      return { lag: l?.byPartition ?? {}, brokersReachable: l?.error === undefined };
    };
    if (this.ingest) out.push({ stage: 'ingest', records: this.ingest.counters.records, deadLettered: this.ingest.counters.deadLettered, ...lag('ingest') });
    if (this.detect) out.push({ stage: 'detect', records: this.detect.counters.records, deadLettered: this.detect.counters.malformed, ...lag('detect') });
    return out;
  }

  /** A summary of the running instance (GET /status, `chainwatch status`). */
  status(): object {
    const phases = { learning: 0, enforcing: 0 };
    for (const a of this.engine.agents.values()) phases[a.phase]++;
    return {
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000), ready: this.receiver.ready,
      receiver: this.receiver.counters, engine: this.engine.stats, openChains: this.engine.assembler.openTraces,
      agents: phases, watermark: this.engine.now > 0 ? new Date(Math.round(this.engine.now)).toISOString() : null,
      metrics: this.metricsUrl ?? null, api: this.apiUrl ?? null,
      store: { kind: this.events.kind, ...this.eventWriter.counters, ...this.eventWriter.pending },
      alertsFile: { path: this.writer.file ?? null, ...this.writer.counters, pending: this.writer.pending },
      sinks: Object.fromEntries(this.sinks.map((s) => [s.transport.name, s.counters])),
      kafka: this.options.kafka ? {
        ingest: this.ingest ? { ...this.ingest.counters, lag: this.lag.get('ingest')?.lag ?? null } : null,
        detect: this.detect ? { ...this.detect.counters, duplicateCalls: this.engine.assembler.duplicateCalls, lag: this.lag.get('detect')?.lag ?? null } : null,
      } : null,
      killSwitch: this.killSwitch?.counters ?? null,
      stateSave: this.lastSave,
    };
  }

  /** Log a listener's TLS files read again after a change, or why they could not be used. */
  private tlsReloaded(listener: string, tls: TlsFiles, err: Error | undefined): void {
    if (err === undefined) this.options.log?.info({ cert: tls.certFile }, `${listener} TLS certificate read again: served from the next connection`);
    else this.options.log?.error({ err: err.message }, `${listener} TLS files changed but cannot be used, the ones before stay: ${err.message}`);
  }

  private consume(spans: RawSpan[], retryAfter: number): void {
    if (this.engine.assembler.saturated) throw new BackpressureError(retryAfter);
    this.engine.ingestSpans(spans);
    this.lastArrival = Date.now();
    this.writer.flush();
  }

  async start(): Promise<string> {
    this.lock = StateLock.acquire(this.options.stateDir, 'chainwatch serve');
    try {
      return await this.startHolding();
    } catch (err) {
      this.lock.release();
      throw err;
    }
  }

  private async startHolding(): Promise<string> {
    if (this.killSwitch) {
      if (this.options.killSwitch?.ssf) this.killSwitch.signer = await loadSigner(this.options.stateDir);
      this.killSwitch.start();
    }
    const k = this.options.kafka;
    if (k) {
      registerKafkaCodecs();
      const kafka = new Kafka({ clientId: 'chainwatch', brokers: k.brokers, logLevel: logLevel.NOTHING, ...k.client });
      const engineConfig = this.engineConfig;
      const groupId = `${k.group}-detect`;
      const ingestGroup = `${k.group}-ingest`;
      const changelog = changelogTopic(groupId);
      await ensureTopics(kafka, k.topics, { callsPartitions: k.callsPartitions, changelog }).catch((err: Error) => {
        // kafkajs gives up with "KafkaJSNonRetriableError" and the reason in its cause: say which brokers, and why.
        const cause = (err.cause as Error | undefined) ?? err;
        throw new KafkaError(`cannot use the Kafka brokers ${k.brokers.join(', ')}: ${cause.message}; ${kafkaHint(cause, k)}`, { cause: err });
      });
      if (k.stages.includes('detect')) {
        // A detect worker owns some agents only: what spans agents (peers, credential owners) is read-only.
        this.engine.sharedFrozen = true;
        this.detect = new KafkaDetect(kafka, this.engine, { groupId, calls: k.topics.calls, changelog, sessionTimeoutMs: k.sessionTimeoutMs, commitIntervalMs: k.commitIntervalMs, staleChainMs: engineConfig.chains.idleTimeoutMs * 10, idlePartitionMs: engineConfig.chains.idleTimeoutMs }, () => this.durable(), () => (this.lastArrival = Date.now()));
        await this.detect.start();
      }
      if (k.stages.includes('ingest')) {
        this.ingest = new KafkaIngest(kafka, k.topics, engineConfig, { groupId: ingestGroup, sessionTimeoutMs: k.sessionTimeoutMs, commitIntervalMs: k.commitIntervalMs, maxHoldMs: 2 * engineConfig.chains.idleTimeoutMs });
        await this.ingest.start();
      }
      if (this.detect) this.lag.set('detect', new LagProbe(kafka, groupId, k.topics.calls));
      if (this.ingest) this.lag.set('ingest', new LagProbe(kafka, ingestGroup, k.topics.spans));
      for (const probe of this.lag.values()) await probe.start();
    }
    const address = await this.receiver.listen();
    this.metricsUrl = await this.telemetry?.start();
    if (this.api) {
      this.apiUrl = await this.api.listen({ host: this.options.api!.host, port: this.options.api!.port });
      const tls = this.options.api!.tls;
      if (tls) this.timers.push(watchTls(tls, 'api.tls', this.api.server as unknown as TlsServer, (err) => this.tlsReloaded('query API', tls, err)));
    }
    this.eventWriter.start();
    const retention = (this.options.store ?? defaultStoreConfig).retentionMs;
    const expire = (): void => {
      const now = Date.now();
      this.events.expire({ calls: now - retention.calls, chains: now - retention.chains, alerts: now - retention.alerts })
        .catch((err: Error) => this.options.log?.warn({ err: err.message }, 'event store retention failed; will retry'));
    };
    this.timers.push(setInterval(expire, 3_600_000));
    this.receiver.ready = true;
    this.timers.push(setInterval(() => this.tick(), 500));
    this.timers.push(setInterval(() => void this.snapshot(), this.options.snapshotEveryMs ?? 60_000));
    for (const t of this.timers) t.unref();
    return address;
  }

  /** Alerts written and revocations recorded: what a Kafka offset commit must wait for. */
  async durable(): Promise<void> {
    this.writer.flush();
    if (this.writer.pending > 0) throw new StoreError(`the alerts file ${this.writer.file} cannot be written (${this.writer.counters.lastError}): offsets are not committed until its alerts are in it`, true);
    await this.responses;
  }

  /**
   * Save the agents changed since the last save, a slice at a time with the event loop let run
   * between (traced); one save at a time. A save that fails is logged and its agents are written
   * by a later one: the state is whole as of the last save that ended.
   */
  snapshot(): Promise<void> {
    // Cleared by a callback of its own, which always runs after the assignment.
    this.saving ??= this.traced('chainwatch.snapshot', () => this.saveState()).finally(() => (this.saving = undefined));
    return this.saving;
  }

  private async saveState(): Promise<void> {
    const started = performance.now();
    try {
      // Rare (each time the interner has doubled): 1.3–2.1 s for 20,000 agents here, so in steps.
      if (this.engine.compactionDue) {
        const compacted = await runInSteps(this.engine.compactSteps());
        this.options.log?.info({ ...compacted, ms: Math.round(performance.now() - started) }, 'interned strings compacted');
      }
      const r = await this.store.saveInSlices(this.engine);
      this.lastSave = { at: new Date().toISOString(), ...r, ms: Math.round(performance.now() - started) };
    } catch (err) {
      this.lastSave = { at: new Date().toISOString(), error: (err as Error).message };
      this.options.log?.error({ err: (err as Error).message }, 'saving the state failed; its agents are saved by the next save');
    }
  }

  private traced<T>(name: string, fn: () => T): T {
    const tracer = this.telemetry?.tracer;
    if (tracer === undefined) return fn();
    return tracer.startActiveSpan(name, (span) => {
      const end = (): void => {
        span.setAttribute('chainwatch.agents', this.engine.agents.size);
        span.end();
      };
      let out: T;
      try {
        out = fn();
      } catch (err) {
        end();
        throw err;
      }
      // An async path (the state save in slices) ends its span when it settles.
      if (out instanceof Promise) return out.finally(end) as T;
      end();
      return out;
    });
  }

  /**
   * With no input, move event time on by the wall-clock time that passed; with input, close the
   * rollup windows of agents that went quiet. Neither for a Kafka detect worker, whose chains the
   * ingest stage closes and whose time must not depend on how long a failover took.
   */
  private tick(): void {
    const now = Date.now();
    if (this.engine.now > 0 && this.detect === undefined) {
      if (now - this.lastArrival >= 500) this.engine.advance(this.engine.now + (now - this.lastTick));
      // A quiet agent's windows close once the input's time is a chain idle timeout past their end.
      else this.engine.expireRollups(this.engine.now - this.engine.config.chains.idleTimeoutMs);
    }
    this.lastTick = now;
    this.writer.flush();
    this.reportKafkaErrors();
  }

  /**
   * Log what goes wrong with Kafka once, when it first shows (the stages keep running and retry on
   * their own; without this, brokers gone away showed only in `/status`): the lag probe's failure
   * (it asks the brokers every 10 s; logged again when they answer), and a stage's latest error.
   */
  private reportKafkaErrors(): void {
    for (const stage of ['ingest', 'detect'] as const) {
      const probe = this.lag.get(stage);
      if (probe === undefined) continue;
      const reach = probe.lag.error;
      if (reach !== this.brokerErrors.get(stage)) {
        if (reach !== undefined) this.options.log?.warn({ stage, err: reach }, `kafka ${stage}: cannot reach the brokers: ${reach}`);
        else this.options.log?.info({ stage }, `kafka ${stage}: brokers reachable again`);
        this.brokerErrors.set(stage, reach);
      }
      const last = stage === 'ingest' ? this.ingest?.counters.lastError : this.detect?.counters.lastError;
      if (last !== undefined && last !== this.stageErrors.get(stage)) {
        this.options.log?.warn({ stage, err: last }, `kafka ${stage}: ${last}`);
        this.stageErrors.set(stage, last);
      }
    }
  }

  /**
   * Stop taking data, then close every chain, flush alerts and save the snapshot. The receiver
   * closes first so in-flight requests finish; the deadline bounds the wait for them.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.receiver.ready = false;
      for (const t of this.timers) clearInterval(t);
      this.policyWatcher?.close();
      const deadline = Date.now() + (this.options.shutdownDeadlineMs ?? 10_000);
      const bounded = async (work: Promise<unknown>): Promise<void> => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([work, new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
        clearTimeout(timer);
      };
      await bounded(this.receiver.close());
      await bounded(this.api?.close() ?? Promise.resolve());
      // Ingest first: closing its open chains produces their last records for detect.
      await bounded(this.ingest?.stop() ?? Promise.resolve());
      await bounded(this.detect?.stop() ?? Promise.resolve());
      for (const probe of this.lag.values()) await bounded(probe.stop());
      await bounded(this.saving ?? Promise.resolve());
      this.traced('chainwatch.shutdown.flush', () => {
        // A Kafka detect worker's open chains and rollups live on in the changelog, for the next owner.
        if (this.detect === undefined) this.engine.flush();
        this.writer.flush();
        this.store.save(this.engine);
      });
      // Revocations are already durable in the outbox; wait (bounded) for the ones in flight.
      await bounded(this.responses);
      this.killSwitch?.close();
      await bounded(this.killSwitch?.idle() ?? Promise.resolve());
      await bounded(Promise.all(this.sinks.map((s) => s.close())));
      // What the store cannot take before the deadline is in the spill, replayed on next start.
      await bounded(this.eventWriter.close());
      this.eventWriter.spillPending();
      await bounded(this.events.close());
      this.store.close();
      this.lock?.release();
      // Exporters retry an unreachable collector; the deadline bounds that too.
      if (this.telemetry) await bounded(this.telemetry.shutdown());
    })();
    return this.stopping;
  }
}

/** What to check when the brokers refuse chainwatch: its credentials, its trust, or where it looks. */
function kafkaHint(err: Error, k: KafkaConfig): string {
  if (err.name === 'KafkaJSSASLAuthenticationError') {
    const sasl = k.security?.sasl;
    return `check kafka.sasl${sasl ? ` (user ${sasl.username}, mechanism ${sasl.mechanism}, the password in ${sasl.password_env})` : ''}`;
  }
  if (/certificate|self[- ]signed|SSL|TLS/i.test(err.message)) return 'check kafka.tls (ca_file: the CA that signed the brokers\' certificates; servername)';
  // A TLS listener drops a client that speaks plaintext to it.
  if (k.security?.tls === undefined && /closed connection|socket disconnected|ECONNRESET/i.test(err.message)) return 'the brokers closed the connection: if their listener takes TLS (SSL, SASL_SSL), add kafka.tls';
  return `is Kafka running there? (--kafka or kafka.brokers${k.security === undefined ? '; brokers that require TLS or SASL need kafka.tls, kafka.sasl' : ''})`;
}
