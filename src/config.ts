/**
 * Configuration: one YAML file plus environment overrides, validated at start against
 * schemas/config.schema.json. Every error is reported at once with its location, path and fix;
 * unknown keys are rejected. Environment variables CHAINWATCH_<PATH> (levels joined by `__`,
 * e.g. CHAINWATCH_RECEIVER__PORT=4319) override the file; their values are read as YAML scalars.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml, stringify } from 'yaml';
import { type AttributeMapping, defaultMapping } from './attribute-map.js';
import { parseDuration } from './duration.js';
import { type EngineConfig, defaultEngineConfig } from './engine.js';
import { ConfigError, type FileIssue as PolicyIssue } from './errors.js';
import { packagePath } from './package-path.js';
import { defaultReceiverConfig, type ReceiverConfig } from './receiver.js';
import type { SpanTimeWindow } from './span.js';
import { type ClickHouseConfig, defaultClickHouseConfig } from './clickhouse-store.js';
import { type QueryApiConfig, defaultQueryApiConfig } from './query-api.js';
import { defaultStoreWriterConfig, type StoreWriterConfig } from './store-writer.js';
import type { Table } from './event-store.js';
import { type FormatOptions, defaultFormatOptions } from './format-common.js';
import type { ResponseMode, ResponsePolicy } from './response-policy.js';

/** One alert sink as written in the config file (schemas/config.schema.json, "sinks"). */
export type SinkFile =
  | { type: 'file'; path: string; format?: 'json' | 'ocsf' | 'ecs' | 'cef' }
  | { type: 'webhook'; url: string; format?: 'json' | 'ocsf' | 'ecs'; secret_env?: string; timeout?: string | number }
  | { type: 'splunk_hec'; url: string; token_env: string; index?: string; sourcetype?: string; host?: string; format?: 'json' | 'ocsf' | 'ecs'; timeout?: string | number }
  | { type: 'elasticsearch'; url: string; index?: string; api_key_env?: string; format?: 'ecs' | 'ocsf' | 'json'; timeout?: string | number }
  | { type: 'syslog'; host: string; port: number; format?: 'cef' | 'json'; facility?: number; app_name?: string; sd_id?: string; timeout?: string | number; tls?: { ca_file?: string; reject_unauthorized?: boolean; servername?: string } }
  | ({ type: 'kafka'; brokers: string[]; topic: string; format?: 'json' | 'ocsf' | 'ecs' | 'cef' } & KafkaSecurityFile);
import type { Severity } from './severity.js';
import { type KafkaConfig, type KafkaTopics, defaultKafkaTopics } from './kafka-config.js';
import type { KafkaSecurityFile } from './kafka-security.js';
import { type LocatedDoc, isMapping, locate, parseLocated, validateLocated } from './yaml-validate.js';
import { nearest } from './nearest.js';
import { redactUrl } from './redact.js';

const DAY_MS = 86_400_000;
const SCHEMA = JSON.parse(readFileSync(packagePath('schemas', 'config.schema.json'), 'utf8')) as { properties: Record<string, unknown> };
const TOP_LEVEL = new Set(Object.keys(SCHEMA.properties));
// `discriminator`: a sink is checked against the kind its `type` names alone, not against every kind.
const validate = new Ajv2020({ allErrors: true, strict: false, verbose: true, discriminator: true }).compile(SCHEMA);

export interface ConfigFile {
  state_dir?: string;
  alerts_file?: string;
  policies?: string[];
  receiver?: { host?: string; port?: number; grpc_port?: number; max_body_bytes?: number; retry_after_seconds?: number; token_env?: string; tls?: { cert_file: string; key_file: string; client_ca_file?: string } };
  telemetry?: {
    prometheus?: { enabled?: boolean; host?: string; port?: number };
    otlp?: { enabled?: boolean; endpoint?: string; interval?: string | number; headers?: Record<string, string>; traces?: boolean };
  };
  logging?: { level?: string };
  shutdown?: { deadline?: string | number };
  store?: {
    kind?: 'sqlite' | 'clickhouse';
    record_calls?: boolean;
    clickhouse?: { url?: string; database?: string; username?: string; request_timeout?: string | number; insert_parallelism?: number };
    batch_rows?: number; flush_interval?: string | number; max_buffer_rows?: number; max_spill_bytes?: number;
    retention?: { calls?: string | number; chains?: string | number; alerts?: string | number };
  };
  api?: { enabled?: boolean; host?: string; port?: number; tls?: { cert_file: string; key_file: string } };
  kafka?: { brokers?: string[]; stages?: 'ingest' | 'detect' | 'both'; group?: string; session_timeout?: string | number; commit_interval?: string | number; calls_partitions?: number; topics?: Partial<KafkaTopics> } & KafkaSecurityFile;
  alerts?: { link_template?: string; vendor?: string; product?: string };
  sinks?: SinkFile[];
  response?: {
    rules?: { name: string; agents?: string[]; min_severity?: Severity; detectors?: string[]; policy_rules?: string[]; kill_switch?: boolean; mode: ResponseMode }[];
    blast_radius?: { max?: number; window?: string | number };
    cooldown?: string | number;
    webhook?: { url: string; secret_env: string; timeout?: string | number };
    ssf?: { endpoint: string; issuer: string; audience: string; authorization_env?: string; credential_type?: string; timeout?: string | number };
    retry?: { max_attempts?: number; base?: string | number; max?: string | number };
  };
  engine?: {
    lifecycle?: { min_calls?: number; min_history?: string | number; min_peers?: number };
    alerts?: { min_severity?: Severity; rollup_window?: string | number; protect_min_severity?: Severity };
    chains?: { reorder_tolerance?: string | number; identity_wait?: string | number; idle_timeout?: string | number; max_chain_calls?: number; max_open_traces?: number; max_clock_skew?: string | number; max_span_age?: string | number };
    baseline?: { half_life?: string | number; max_agents?: number };
    normalize?: { internal_domains?: string[]; sensitive?: string[]; include_model_calls?: boolean; mapping?: Record<string, string[]> };
  };
}

/** The effective configuration, in the engine's and service's own terms. */
export interface Config {
  stateDir: string;
  alertsFile?: string;
  policies: string[];
  /** The span time window the receiver allows is the engine's (engine.chains.max_clock_skew, max_span_age). */
  receiver: Omit<ReceiverConfig, keyof SpanTimeWindow | 'tokens'> & { tokenEnv?: string };
  telemetry: {
    prometheus: { enabled: boolean; host: string; port: number };
    otlp: { enabled: boolean; endpoint: string; intervalMs: number; headers: Record<string, string>; traces: boolean };
  };
  logLevel: string;
  shutdownDeadlineMs: number;
  store: {
    kind: 'sqlite' | 'clickhouse';
    recordCalls: boolean;
    clickhouse: ClickHouseConfig;
    writer: Omit<StoreWriterConfig, 'spillDir'>;
    retentionMs: Record<Table, number>;
  };
  api: QueryApiConfig;
  /** Present when the file names brokers (or `serve --kafka` adds them). */
  kafka?: KafkaConfig;
  format: FormatOptions;
  sinks: SinkFile[];
  /** Secrets not resolved yet: they are read from the environment when the service starts. */
  response?: {
    policy: ResponsePolicy;
    webhook?: { url: string; secretEnv: string; timeoutMs: number };
    ssf?: { endpoint: string; issuer: string; audience: string; authorizationEnv?: string; credentialType: string; timeoutMs: number };
    retry: { maxAttempts: number; baseMs: number; maxMs: number };
  };
  engine: EngineConfig;
  /** The merged file + environment, as written (for `config show`). */
  source: ConfigFile;
}

/** Where events are kept when the config says nothing: SQLite in the state dir. */
export const defaultStoreConfig: Config['store'] = {
  kind: 'sqlite', recordCalls: true, clickhouse: defaultClickHouseConfig, writer: defaultStoreWriterConfig,
  retentionMs: { calls: 7 * DAY_MS, chains: 90 * DAY_MS, alerts: 365 * DAY_MS },
};

const ENV_PREFIX = 'CHAINWATCH_';
/** Environment variables that are secrets or settings of their own, not config paths. */
export const ENV_RESERVED = new Set(['CHAINWATCH_LOG_LEVEL', 'CHAINWATCH_API_TOKEN', 'CHAINWATCH_CLICKHOUSE_PASSWORD', 'CHAINWATCH_CACHE']);

/** Overrides from the environment, as a nested object. */
export function envOverrides(env: NodeJS.ProcessEnv): ConfigFile {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || ENV_RESERVED.has(name)) continue;
    const path = name.slice(ENV_PREFIX.length).toLowerCase().split('__');
    // CHAINWATCH_HEC_TOKEN and the like are secrets named by *_env settings, not config paths;
    // a nested path (with __) is always a config path, so a typo in one is still reported.
    if (path.length === 1 && !TOP_LEVEL.has(path[0])) continue;
    let node = out;
    for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[path[path.length - 1]] = parseYaml(value) as unknown;
  }
  return out as ConfigFile;
}

/**
 * An issue found in the settings the environment gave, named by the variable that gave it (a line
 * and column of the YAML made from the variables would point at nothing the user wrote); a
 * suggested key is spelt as the variable to set.
 */
function byVariable(issue: PolicyIssue, env: NodeJS.ProcessEnv): PolicyIssue {
  const segments = issue.path.split(/[.[\]]+/).filter(Boolean).map((p) => p.toLowerCase());
  // The variable whose path runs through the issue's (or ends inside it: a list or a mapping given whole).
  const variable = Object.keys(env).filter((v) => v.startsWith(ENV_PREFIX) && !ENV_RESERVED.has(v)).map((v) => ({ v, path: v.slice(ENV_PREFIX.length).toLowerCase().split('__') }))
    .find(({ path }) => path.every((p, i) => i >= segments.length || segments[i] === p));
  const at = { file: '', line: 0, column: 0 };
  if (variable === undefined) return { ...issue, ...at, path: `environment ${issue.path}` };
  const { v, path } = variable;
  const message = issue.message.replace(/^(unknown key "[^"]*"): did you mean "([^"]*)"\?$/, (_m, head: string, near: string) => {
    const fixed = v.slice(ENV_PREFIX.length).split('__');
    fixed[segments.length - 1] = near.toUpperCase();
    return `${head}: did you mean ${ENV_PREFIX}${fixed.join('__')}?`;
  });
  return { ...issue, ...at, path: path.length >= segments.length ? v : `${v} (${issue.path})`, message };
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && b !== null && typeof b === 'object' && !Array.isArray(b)
      ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/**
 * Mapping fields the engine does not know (engine.normalize.mapping), with the list of those it
 * does: checked beside the schema's errors, on a document the schema may have rejected.
 */
function checkMappingFields(located: LocatedDoc<unknown>, issues: PolicyIssue[]): void {
  const path = ['engine', 'normalize', 'mapping'];
  let mapping: unknown = located.data;
  for (const key of path) mapping = isMapping(mapping) ? mapping[key] : undefined;
  if (!isMapping(mapping)) return;
  for (const field of Object.keys(mapping)) {
    if (mappingField(field) === undefined) issues.push(locate(located, [...path, field], unknownMappingField(field), 0, true));
  }
}

/**
 * The mapping field a config key names, whatever its case: environment variables can only spell
 * it in one case (CHAINWATCH_ENGINE__NORMALIZE__MAPPING__AGENTID is agentId).
 */
const MAPPING_FIELDS = new Map(Object.keys(defaultMapping).map((f) => [f.toLowerCase(), f as keyof AttributeMapping]));
const mappingField = (key: string): keyof AttributeMapping | undefined => MAPPING_FIELDS.get(key.toLowerCase());

/** Load the file (optional) and the environment; throws ConfigError with every issue. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const issues: PolicyIssue[] = [];
  let fromFile: ConfigFile = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([{ file, line: 1, column: 1, path: '', message: `cannot read: ${(err as Error).message}` }]);
    }
    const located = parseLocated<ConfigFile>(file, text, issues);
    const data: unknown = located?.data;
    if (located !== undefined && isMapping(data) && 'version' in data && Array.isArray(data.policies) && data.policies.some(isMapping)) {
      // A policy file given as the configuration: one line saying so, not one per key.
      issues.push({ file, line: 1, column: 1, path: '', message: 'this is a policy file, not a configuration: check it with chainwatch policy check, and list it in the configuration under policies: (or give it to --policies)' });
    } else if (located !== undefined) {
      if (validateLocated(located, validate, issues)) fromFile = located.data;
      checkMappingFields(located, issues);
    }
  }
  const fromEnv = envOverrides(env);
  if (Object.keys(fromEnv).length) {
    const envText = stringify(fromEnv);
    const envIssues: PolicyIssue[] = [];
    const located = parseLocated<ConfigFile>('environment (CHAINWATCH_*)', envText, envIssues);
    if (located !== undefined) {
      validateLocated(located, validate, envIssues);
      checkMappingFields(located, envIssues);
    }
    for (const issue of envIssues) issues.push(byVariable(issue, env));
  }
  if (issues.length) throw new ConfigError(issues);
  const source = deepMerge(fromFile as Record<string, unknown>, fromEnv as Record<string, unknown>) as ConfigFile;

  const e = source.engine ?? {};
  const st = source.store ?? {};
  const d = defaultEngineConfig;
  const mapping: AttributeMapping = { ...defaultMapping };
  for (const [field, names] of Object.entries(e.normalize?.mapping ?? {})) mapping[mappingField(field)!] = names;
  const config: Config = {
    stateDir: source.state_dir ?? '.chainwatch',
    alertsFile: source.alerts_file,
    policies: source.policies ?? [],
    receiver: {
      host: source.receiver?.host ?? defaultReceiverConfig.host,
      port: source.receiver?.port ?? defaultReceiverConfig.port,
      maxBodyBytes: source.receiver?.max_body_bytes ?? defaultReceiverConfig.maxBodyBytes,
      retryAfterSeconds: source.receiver?.retry_after_seconds ?? defaultReceiverConfig.retryAfterSeconds,
      ...(source.receiver?.grpc_port !== undefined ? { grpcPort: source.receiver.grpc_port } : {}),
      ...(source.receiver?.token_env !== undefined ? { tokenEnv: source.receiver.token_env } : {}),
      ...(source.receiver?.tls !== undefined ? { tls: { certFile: source.receiver.tls.cert_file, keyFile: source.receiver.tls.key_file, ...(source.receiver.tls.client_ca_file !== undefined ? { clientCaFile: source.receiver.tls.client_ca_file } : {}) } } : {}),
    },
    telemetry: {
      prometheus: { enabled: source.telemetry?.prometheus?.enabled ?? true, host: source.telemetry?.prometheus?.host ?? '127.0.0.1', port: source.telemetry?.prometheus?.port ?? 9464 },
      otlp: {
        enabled: source.telemetry?.otlp?.enabled ?? false, endpoint: source.telemetry?.otlp?.endpoint ?? 'http://127.0.0.1:4318/v1/metrics',
        intervalMs: duration(source.telemetry?.otlp?.interval, 30_000), headers: source.telemetry?.otlp?.headers ?? {},
        traces: source.telemetry?.otlp?.traces ?? false,
      },
    },
    logLevel: source.logging?.level ?? 'info',
    shutdownDeadlineMs: duration(source.shutdown?.deadline, 10_000),
    store: {
      kind: st.kind ?? defaultStoreConfig.kind,
      recordCalls: st.record_calls ?? defaultStoreConfig.recordCalls,
      clickhouse: {
        url: st.clickhouse?.url ?? defaultClickHouseConfig.url, database: st.clickhouse?.database ?? defaultClickHouseConfig.database,
        username: st.clickhouse?.username ?? defaultClickHouseConfig.username,
        requestTimeoutMs: duration(st.clickhouse?.request_timeout, defaultClickHouseConfig.requestTimeoutMs),
        insertParallelism: st.clickhouse?.insert_parallelism ?? defaultClickHouseConfig.insertParallelism,
        ...(env.CHAINWATCH_CLICKHOUSE_PASSWORD !== undefined ? { password: env.CHAINWATCH_CLICKHOUSE_PASSWORD } : {}),
      },
      writer: {
        ...defaultStoreWriterConfig,
        batchRows: st.batch_rows ?? defaultStoreWriterConfig.batchRows,
        flushMs: duration(st.flush_interval, defaultStoreWriterConfig.flushMs),
        maxBufferRows: st.max_buffer_rows ?? defaultStoreWriterConfig.maxBufferRows,
        maxSpillBytes: st.max_spill_bytes ?? defaultStoreWriterConfig.maxSpillBytes,
      },
      retentionMs: {
        calls: duration(st.retention?.calls, defaultStoreConfig.retentionMs.calls),
        chains: duration(st.retention?.chains, defaultStoreConfig.retentionMs.chains),
        alerts: duration(st.retention?.alerts, defaultStoreConfig.retentionMs.alerts),
      },
    },
    api: {
      enabled: source.api?.enabled ?? defaultQueryApiConfig.enabled, host: source.api?.host ?? defaultQueryApiConfig.host, port: source.api?.port ?? defaultQueryApiConfig.port,
      ...(source.api?.tls ? { tls: { certFile: source.api.tls.cert_file, keyFile: source.api.tls.key_file } } : {}),
    },
    ...(source.kafka?.brokers !== undefined ? { kafka: kafkaConfig(source.kafka, source.kafka.brokers) } : {}),
    format: {
      ...defaultFormatOptions, vendor: source.alerts?.vendor ?? defaultFormatOptions.vendor, product: source.alerts?.product ?? defaultFormatOptions.product,
      ...(source.alerts?.link_template !== undefined ? { linkTemplate: source.alerts.link_template } : {}),
    },
    sinks: source.sinks ?? [],
    ...(source.response !== undefined ? { response: responseConfig(source.response) } : {}),
    engine: {
      ...d,
      normalize: {
        mapping,
        internalDomains: e.normalize?.internal_domains ?? d.normalize.internalDomains,
        sensitive: e.normalize?.sensitive ?? d.normalize.sensitive,
        includeModelCalls: e.normalize?.include_model_calls ?? d.normalize.includeModelCalls,
      },
      chains: {
        ...d.chains,
        reorderToleranceMs: duration(e.chains?.reorder_tolerance, d.chains.reorderToleranceMs),
        identityWaitMs: duration(e.chains?.identity_wait, d.chains.identityWaitMs),
        idleTimeoutMs: duration(e.chains?.idle_timeout, d.chains.idleTimeoutMs),
        maxChainCalls: e.chains?.max_chain_calls ?? d.chains.maxChainCalls,
        maxOpenTraces: e.chains?.max_open_traces ?? d.chains.maxOpenTraces,
        maxClockSkewMs: duration(e.chains?.max_clock_skew, d.chains.maxClockSkewMs),
        maxSpanAgeMs: duration(e.chains?.max_span_age, d.chains.maxSpanAgeMs),
      },
      detectors: { halfLifeMs: duration(e.baseline?.half_life, d.detectors.halfLifeMs) },
      lifecycle: {
        minCalls: e.lifecycle?.min_calls ?? d.lifecycle.minCalls,
        minHistoryMs: duration(e.lifecycle?.min_history, d.lifecycle.minHistoryMs),
        minPeers: e.lifecycle?.min_peers ?? d.lifecycle.minPeers,
      },
      alerts: {
        minSeverity: e.alerts?.min_severity ?? d.alerts.minSeverity,
        rollupWindowMs: duration(e.alerts?.rollup_window, d.alerts.rollupWindowMs),
        protectMinSeverity: e.alerts?.protect_min_severity ?? d.alerts.protectMinSeverity,
      },
      maxAgents: e.baseline?.max_agents ?? d.maxAgents,
    },
    source,
  };
  if (issues.length) throw new ConfigError(issues);
  return config;
}

/**
 * A duration the schema validated (its pattern lets through only what parseDuration reads), in
 * milliseconds, or the fallback when it is absent.
 */
function duration(v: string | number | undefined, fallback: number): number {
  return v === undefined ? fallback : parseDuration(v) ?? fallback;
}

/** The Kafka section in the service's terms; `serve --kafka` builds one from the flags too. */
export function kafkaConfig(k: NonNullable<ConfigFile['kafka']>, brokers: string[]): KafkaConfig {
  const stages = k.stages ?? 'both';
  return {
    brokers, stages: stages === 'both' ? ['ingest', 'detect'] : [stages], group: k.group ?? 'chainwatch',
    sessionTimeoutMs: duration(k.session_timeout, 30_000),
    commitIntervalMs: duration(k.commit_interval, 1_000), callsPartitions: k.calls_partitions ?? 8,
    topics: { ...defaultKafkaTopics, ...k.topics },
    ...(k.tls !== undefined || k.sasl !== undefined ? { security: { ...(k.tls !== undefined ? { tls: k.tls } : {}), ...(k.sasl !== undefined ? { sasl: k.sasl } : {}) } } : {}),
  };
}

function responseConfig(r: NonNullable<ConfigFile['response']>): NonNullable<Config['response']> {
  const out: NonNullable<Config['response']> = {
    policy: {
      rules: (r.rules ?? []).map((x) => {
        const rule: ResponsePolicy['rules'][number] = { name: x.name, mode: x.mode };
        if (x.agents) rule.agents = x.agents;
        if (x.min_severity) rule.minSeverity = x.min_severity;
        if (x.detectors) rule.detectors = x.detectors;
        if (x.policy_rules) rule.policyRules = x.policy_rules;
        if (x.kill_switch !== undefined) rule.killSwitch = x.kill_switch;
        return rule;
      }),
      blastRadius: { max: r.blast_radius?.max ?? 5, windowMs: duration(r.blast_radius?.window, 600_000) },
      cooldownMs: duration(r.cooldown, 1_800_000),
    },
    retry: {
      maxAttempts: r.retry?.max_attempts ?? 12, baseMs: duration(r.retry?.base, 1_000), maxMs: duration(r.retry?.max, 300_000),
    },
  };
  if (r.webhook) out.webhook = { url: r.webhook.url, secretEnv: r.webhook.secret_env, timeoutMs: duration(r.webhook.timeout, 15_000) };
  if (r.ssf) {
    out.ssf = { endpoint: r.ssf.endpoint, issuer: r.ssf.issuer, audience: r.ssf.audience, credentialType: r.ssf.credential_type ?? 'agent-api-key', timeoutMs: duration(r.ssf.timeout, 15_000) };
    if (r.ssf.authorization_env) out.ssf.authorizationEnv = r.ssf.authorization_env;
  }
  return out;
}

/** The effective configuration as YAML, secrets (export headers) masked: only their names are shown. */
export function showConfig(config: Config): string {
  const effective = {
    state_dir: config.stateDir, alerts_file: config.alertsFile ?? `${config.stateDir}/alerts.jsonl`, policies: config.policies,
    receiver: { host: config.receiver.host, port: config.receiver.port, ...(config.receiver.grpcPort !== undefined ? { grpc_port: config.receiver.grpcPort } : {}), max_body_bytes: config.receiver.maxBodyBytes, retry_after_seconds: config.receiver.retryAfterSeconds, ...(config.receiver.tokenEnv ? { token_env: config.receiver.tokenEnv } : {}),
      ...(config.receiver.tls ? { tls: { cert_file: config.receiver.tls.certFile, key_file: config.receiver.tls.keyFile, ...(config.receiver.tls.clientCaFile ? { client_ca_file: config.receiver.tls.clientCaFile } : {}) } } : {}) },
    telemetry: {
      prometheus: config.telemetry.prometheus,
      otlp: { ...config.telemetry.otlp, headers: Object.fromEntries(Object.keys(config.telemetry.otlp.headers).map((k) => [k, '********'])) },
    },
    logging: { level: config.logLevel }, shutdown: { deadline_ms: config.shutdownDeadlineMs },
    store: {
      kind: config.store.kind, record_calls: config.store.recordCalls,
      clickhouse: { url: redactUrl(config.store.clickhouse.url), database: config.store.clickhouse.database, username: config.store.clickhouse.username, password: config.store.clickhouse.password === undefined ? '(none)' : '********' },
      writer: config.store.writer, retention_ms: config.store.retentionMs,
    },
    api: config.api,
    kafka: config.kafka ?? null,
    alerts: { vendor: config.format.vendor, product: config.format.product, link_template: config.format.linkTemplate ?? null },
    sinks: config.sinks.map((k) => ({ ...k, ...('url' in k ? { url: redactUrl(k.url) } : {}) })),
    response: config.source.response ?? null,
    engine: config.source.engine ?? {},
  };
  return stringify(effective);
}

function unknownMappingField(field: string): string {
  const fields = Object.keys(defaultMapping);
  const near = nearest(field, fields);
  return `unknown mapping field "${field}": ${near === undefined ? '' : `did you mean "${near}"? `}use one of ${fields.join(', ')}`;
}
