/**
 * chainwatch's own telemetry with the OpenTelemetry SDK: a Prometheus scrape endpoint on
 * 127.0.0.1 and/or OTLP metric export. Every instrument is observable — read from counters the
 * engine and receiver keep anyway — so the hot path does no metric work at all. Traces of our own
 * slow paths (snapshot, policy reload, shutdown) go out over OTLP when `otlp.traces` is on; their
 * resource carries `chainwatch.self=true`, and the engine drops such spans if a collector routes
 * them back to us, so we never analyse ourselves. The exporters' own HTTP calls are not traced
 * (no auto-instrumentation is installed).
 */

/** Resource attribute that marks chainwatch's own telemetry. */
export const SELF_ATTRIBUTE = 'chainwatch.self';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metrics, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import type { Config } from './config.js';
import type { Engine } from './engine.js';
import type { OtlpReceiver } from './receiver.js';
import type { StoreWriter } from './store-writer.js';
import type { SinkRunner } from './sinks.js';
import type { KillSwitch } from './kill-switch.js';

/** What a running Kafka stage reports to the metrics. */
export interface KafkaStageMetrics {
  stage: 'ingest' | 'detect';
  records: number;
  deadLettered: number;
  lag: Record<number, number>;
  /** Whether the brokers answered the latest lag sample (when not, `lag` is the last one measured). */
  brokersReachable: boolean;
}

export class SelfTelemetry {
  private readonly provider: MeterProvider;
  private readonly prometheus?: PrometheusExporter;
  private server?: Server;
  private closing?: Promise<void>;
  private readonly tracerProvider?: BasicTracerProvider;
  /** Spans for our own slow paths; a no-op tracer unless OTLP traces are on. */
  readonly tracer: Tracer;

  constructor(private readonly config: Config['telemetry'], engine: Engine, receiver: OtlpReceiver, store?: StoreWriter, response?: { sinks: SinkRunner[]; killSwitch?: KillSwitch }, kafka: () => KafkaStageMetrics[] = () => []) {
    const readers: MetricReader[] = [];
    if (config.prometheus.enabled) {
      this.prometheus = new PrometheusExporter({ host: config.prometheus.host, port: config.prometheus.port, preventServerStart: true });
      readers.push(this.prometheus);
    }
    if (config.otlp.enabled) {
      readers.push(new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: config.otlp.endpoint, headers: config.otlp.headers }),
        exportIntervalMillis: config.otlp.intervalMs,
      }));
    }
    const resource = resourceFromAttributes({ 'service.name': 'chainwatch', [SELF_ATTRIBUTE]: 'true' });
    this.provider = new MeterProvider({ resource, readers });
    if (config.otlp.enabled && config.otlp.traces) {
      const url = config.otlp.endpoint.replace(/\/v1\/metrics\/?$/, '') + '/v1/traces';
      // Not registered globally: an application embedding chainwatch keeps its own tracer provider.
      this.tracerProvider = new BasicTracerProvider({
        resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url, headers: config.otlp.headers }), { scheduledDelayMillis: 1000 })],
      });
      this.tracer = this.tracerProvider.getTracer('chainwatch');
    } else this.tracer = trace.getTracer('chainwatch-noop');
    const meter = this.provider.getMeter('chainwatch');
    const counter = (name: string, description: string, read: (observe: (v: number, attrs?: Record<string, string>) => void) => void): void => {
      meter.createObservableCounter(name, { description }).addCallback((r) => read((v, a) => r.observe(v, a)));
    };
    const gauge = (name: string, description: string, read: () => number): void => {
      meter.createObservableGauge(name, { description }).addCallback((r) => r.observe(read()));
    };
    const s = engine.stats;
    const c = receiver.counters;
    counter('chainwatch_spans_received', 'Spans accepted by the OTLP receiver', (o) => o(c.spansAccepted));
    counter('chainwatch_spans_dropped', 'Spans dropped, by reason', (o) => {
      o(c.spansRejected - c.spansSkewed - c.spansTooOld, { reason: 'invalid_span' });
      o(c.spansSkewed, { reason: 'clock_skew' });
      o(c.spansTooOld, { reason: 'too_old' });
      o(engine.assembler.droppedSpans, { reason: 'trace_span_cap' });
    });
    counter('chainwatch_requests_rejected', 'OTLP requests answered with an error, by reason', (o) => {
      for (const [reason, n] of Object.entries(c.badRequests)) o(n, { reason });
    });
    counter('chainwatch_calls_normalized', 'Agent calls built from spans', (o) => o(s.calls));
    counter('chainwatch_chains_closed', 'Chains closed', (o) => o(s.chains));
    counter('chainwatch_chains_quarantined', 'Chains held back from learning until confirmed', (o) => o(s.chainsQuarantined));
    counter('chainwatch_alerts', 'Alerts emitted, by severity', (o) => {
      for (const [severity, n] of Object.entries(s.alerts)) o(n, { severity });
    });
    counter('chainwatch_policy_violations', 'Declared-scope violations, by mode', (o) => {
      o(s.violations, { mode: 'enforce' });
      o(s.shadowViolations, { mode: 'shadow' });
    });
    counter('chainwatch_detector_seconds', 'Time spent scoring calls, per detector (sampled estimate)', (o) => {
      for (const [detector, secs] of Object.entries(s.detectorSeconds)) o(secs, { detector });
    });
    gauge('chainwatch_chains_open', 'Chains (traces) currently open', () => engine.assembler.openTraces);
    gauge('chainwatch_agents', 'Agents with a baseline', () => engine.agents.size);
    gauge('chainwatch_agents_enforcing', 'Agents whose baseline is enforced', () => [...engine.agents.values()].filter((a) => a.phase === 'enforcing').length);
    if (store !== undefined) {
      const w = store.counters;
      counter('chainwatch_store_rows_written', 'Rows written to the event store, by table', (o) => {
        for (const [table, n] of Object.entries(w.rowsWritten)) o(n, { table });
      });
      counter('chainwatch_store_rows_spilled', 'Rows spilled to disk while the event store was unreachable or slow', (o) => o(w.rowsSpilled));
      counter('chainwatch_store_rows_replayed', 'Spilled rows written once the event store was back', (o) => o(w.rowsReplayed));
      counter('chainwatch_store_rows_dropped', 'Rows lost because the spill was full', (o) => o(w.rowsDropped));
      counter('chainwatch_store_failed_batches', 'Batches the event store refused or did not answer', (o) => o(w.failedBatches));
      gauge('chainwatch_store_spill_bytes', 'Bytes waiting in the spill', () => w.spillBytes);
      gauge('chainwatch_store_up', '1 when the last event store request succeeded', () => (w.storeUp ? 1 : 0));
      gauge('chainwatch_store_buffered_rows', 'Rows waiting in memory for the next batch', () => store.pending.rows);
    }
    if (response !== undefined) {
      const sinks = response.sinks;
      counter('chainwatch_sink_alerts_sent', 'Alerts delivered, per sink', (o) => {
        for (const k of sinks) o(k.counters.sent, { sink: k.transport.name });
      });
      counter('chainwatch_sink_alerts_dropped', 'Alerts a sink gave up on (retries exhausted or queue full), per sink', (o) => {
        for (const k of sinks) o(k.counters.dropped, { sink: k.transport.name });
      });
      counter('chainwatch_sink_failed_attempts', 'Failed delivery attempts, per sink', (o) => {
        for (const k of sinks) o(k.counters.failedAttempts, { sink: k.transport.name });
      });
      gauge('chainwatch_sink_queued', 'Alerts waiting in sink queues', () => sinks.reduce((n, k) => n + k.counters.queued, 0));
      const ks = response.killSwitch;
      if (ks !== undefined) {
        counter('chainwatch_revocations', 'Revocation decisions, by mode', (o) => {
          for (const [mode, n] of Object.entries(ks.counters.decided)) o(n, { mode });
        });
        counter('chainwatch_revocation_attempts', 'Revocation delivery attempts, by outcome', (o) => {
          o(ks.counters.delivered, { outcome: 'delivered' });
          o(ks.counters.failedAttempts, { outcome: 'failed' });
        });
        counter('chainwatch_revocations_dead', 'Revocation messages dead-lettered after the retry limit', (o) => o(ks.counters.dead));
        gauge('chainwatch_outbox_pending', 'Revocation messages not yet delivered (pending, sending or held for approval)', () => ks.pending());
      }
    }
    meter.createObservableGauge('chainwatch_kafka_consumer_lag', { description: 'Records not yet committed by a Kafka stage, per stage and partition (what the autoscaler reads)' }).addCallback((r) => {
      for (const k of kafka()) for (const [partition, lag] of Object.entries(k.lag)) r.observe(lag, { stage: k.stage, partition });
    });
    meter.createObservableGauge('chainwatch_kafka_brokers_reachable', { description: 'Whether the Kafka brokers answered a stage\'s latest lag sample (every 10 s): 0 while they do not, and chainwatch_kafka_consumer_lag is then the last lag measured' }).addCallback((r) => {
      for (const k of kafka()) r.observe(k.brokersReachable ? 1 : 0, { stage: k.stage });
    });
    counter('chainwatch_kafka_records', 'Kafka records consumed, per stage', (o) => {
      for (const k of kafka()) o(k.records, { stage: k.stage });
    });
    counter('chainwatch_kafka_dead_letters', 'Kafka records that could not be read (dead-lettered by ingest, counted by detect), per stage', (o) => {
      for (const k of kafka()) o(k.deadLettered, { stage: k.stage });
    });
    metrics.setGlobalMeterProvider(this.provider);
  }

  /**
   * Start the scrape endpoint (GET /metrics); resolves to its URL, or undefined when Prometheus
   * is off. Our own server rather than the exporter's: it binds the configured host and accepts
   * port 0 (the exporter reads 0 as "the default port").
   */
  async start(): Promise<string | undefined> {
    const exporter = this.prometheus;
    if (exporter === undefined) return undefined;
    const server = createServer((req, res) => {
      if (req.url?.split('?')[0] === '/metrics') exporter.getMetricsRequestHandler(req, res);
      else res.writeHead(404).end();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.config.prometheus.host, port: this.config.prometheus.port }, resolve);
    });
    server.unref();
    const addr = server.address() as AddressInfo;
    return `http://${addr.address}:${addr.port}/metrics`;
  }

  /** Export what is pending now (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([this.provider.forceFlush().catch(() => undefined), this.tracerProvider?.forceFlush().catch(() => undefined)]);
  }

  /** Flush and stop; safe to call twice. */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
      await Promise.all([this.provider.shutdown().catch(() => undefined), this.tracerProvider?.shutdown().catch(() => undefined)]);
    })();
    return this.closing;
  }
}
