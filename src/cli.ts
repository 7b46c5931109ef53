#!/usr/bin/env -S node --max-semi-space-size=32 --max-inlined-bytecode-size=920 --max-inlined-bytecode-size-cumulative=2760
/**
 * The chainwatch command line. The only module that exits the process: everything else throws
 * typed errors, which are printed here with their code.
 */
import { appendFileSync, existsSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import pc from 'picocolors';
import { pino } from 'pino';
import type { Alert } from './alerts.js';
import { AlertWriter, formatAlert } from './alert-writer.js';
import { describeAgent } from './baseline-view.js';
import { Engine, type ShadowRecord, defaultEngineConfig } from './engine.js';
import { type Config, envOverrides, kafkaConfig, loadConfig, showConfig } from './config.js';
import type { KafkaConfig } from './kafka-config.js';
import { kafkaClientSecurity } from './kafka-security.js';
import { PolicyEngine } from './policy-engine.js';
import { loadPolicies } from './policy-load.js';
import { suggestPolicy } from './policy-suggest.js';
import { formatPolicyTest } from './policy-report.js';
import { type StatusDoc, formatStatus } from './status-view.js';
import { ChainwatchError, ConfigError, InputFormatError } from './errors.js';
import { describeFetchError } from './fetch-error.js';
import { evaluate, formatEvaluation } from './evaluate.js';
import { STDIN, checkInputs, inputName, readInputs, totalBytes, type LineError } from './input-files.js';
import { readAlerts, readLabels } from './record-files.js';
import { Service } from './service.js';
import { defaultSimOptions, simulate } from './simulate.js';
import type { Severity } from './severity.js';
import * as arg from './cli-args.js';
import { StateStore } from './state-store.js';
import { StateLock } from './state-lock.js';
import { makeStateDir } from './sqlite-db.js';
import { alertRow, callRow, chainRow } from './event-store.js';
import { SqliteEventStore } from './sqlite-store.js';
import { StoreWriter, defaultStoreWriterConfig } from './store-writer.js';
import { buildSink, killSwitchConfig } from './sink-factory.js';
import { secretFromEnv } from './setting-sources.js';
import { approveRevocation, listRevocations, undoRevocation } from './revocations.js';
import { ensureDir } from './ensure-dir.js';


/** What `--kafka-stage` takes: the config's kafka.stages values. */
type KafkaStage = NonNullable<NonNullable<Config['source']['kafka']>['stages']>;

const log = pino({ name: 'chainwatch', level: process.env.CHAINWATCH_LOG_LEVEL ?? 'info' }, pino.destination(2));
const program = new Command('chainwatch')
  .description('Streaming behavioral anomaly detection for AI-agent API access')
  .version('0.1.0');

/**
 * A reader that closes stdout early (`chainwatch pretty alerts.jsonl | head`) ends a one-shot
 * command quietly, as Unix tools do, where it crashed with an unhandled EPIPE. `serve` keeps
 * serving — its alerts still go to the alerts file and the sinks — and says so once.
 */
let serving = false;
let stdoutGone = false;
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // A write after the first failure finds the stream destroyed: the same closed reader.
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  if (!serving) process.exit(0);
  if (!stdoutGone) log.warn('stdout was closed by its reader: alerts are no longer printed; they still go to the alerts file and the sinks');
  stdoutGone = true;
});

const stateOption = (): Option => new Option('--state <dir>', 'state directory (baselines, alerts)').default('.chainwatch');

program.command('serve')
  .description('OTLP/HTTP receiver + engine; alerts to stdout and a JSONL file')
  .option('--config <file>', 'YAML configuration (schemas/config.schema.json); CHAINWATCH_* variables override it')
  .option('--state <dir>', 'state directory (default .chainwatch)')
  .option('--host <host>', 'listen address (default 127.0.0.1)')
  .option('--port <port>', 'listen port (default 4318)', arg.port)
  .option('--grpc-port <port>', 'also take OTLP/gRPC on this port (e.g. 4317; default: HTTP only)', arg.port)
  .option('--alerts <file>', 'alerts JSONL file (default: STATE/alerts.jsonl)')
  .option('--pretty', 'human-readable alerts on stdout instead of JSON lines')
  .option('--policies <files...>', 'declared-scope policy files (YAML), reloaded on change')
  .option('--kafka <brokers>', 'also consume the Collector\'s otlp_spans topic from these brokers (comma-separated)')
  .option('--kafka-stage <stage>', 'ingest, detect or both (default both, or the config\'s kafka.stages)', arg.oneOf(['ingest', 'detect', 'both'] as const))
  .option('--kafka-group <group>', 'consumer group prefix (default chainwatch, or the config\'s kafka.group)')
  .action(async (opts: { config?: string; state?: string; host?: string; port?: number; grpcPort?: number; alerts?: string; pretty?: boolean; policies?: string[]; kafka?: string; kafkaStage?: KafkaStage; kafkaGroup?: string }) => {
    const config = loadConfig(opts.config);
    log.level = process.env.CHAINWATCH_LOG_LEVEL ?? config.logLevel;
    serving = true;
    const stateDir = opts.state ?? config.stateDir;
    // Held before the service opens the directory (its store, its state loaded: seconds for a large
    // fleet), so that a second serve is refused before it touches a state in use. The service takes
    // it over at start (the same process) and frees it at stop.
    const early = StateLock.acquire(makeStateDir(stateDir), 'chainwatch serve');
    let service: Service;
    try {
      service = new Service({
        stateDir, alertsFile: opts.alerts ?? config.alertsFile,
        receiver: { ...receiverOf(config), ...(opts.host ? { host: opts.host } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}), ...(opts.grpcPort !== undefined ? { grpcPort: opts.grpcPort } : {}) },
        out: process.stdout, pretty: opts.pretty, policies: opts.policies ?? config.policies, log, engine: config.engine,
        telemetry: config.telemetry, shutdownDeadlineMs: config.shutdownDeadlineMs,
        store: config.store, api: { ...config.api, token: process.env.CHAINWATCH_API_TOKEN },
        sinks: config.sinks.map((k, i) => buildSink(k, i, process.env, config.format)),
        ...(config.response ? { killSwitch: killSwitchConfig(config.response, process.env, config.format.linkTemplate) } : {}),
        ...kafkaOptions(config, opts),
      });
    } catch (err) {
      early.release();
      throw err;
    }
    const address = await service.start();
    const grpc = service.receiver.grpcAddress;
    log.info({ address, grpc, metrics: service.metricsUrl, api: service.apiUrl, store: service.events.kind, state: service.store.dir, agents: service.engine.agents.size }, `chainwatch serving OTLP/HTTP on %s/v1/traces${grpc ? ` and OTLP/gRPC on ${grpc}` : ''}`, address);
    const shutdown = async (signal: string): Promise<void> => {
      log.info({ signal }, 'shutting down: draining, closing chains, flushing alerts, saving state');
      await service.stop();
      log.info({ stats: service.engine.stats, receiver: service.receiver.counters }, 'stopped');
      process.exit(0);
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  });

/** The config's receiver settings, with the bearer tokens from the variable `token_env` names (comma-separated: a rotation's old and new). */
function receiverOf(config: Config): Omit<Config['receiver'], 'tokenEnv'> & { tokens?: string[] } {
  const { tokenEnv, ...receiver } = config.receiver;
  const value = secretFromEnv(process.env, tokenEnv, 'receiver.token_env');
  if (value === undefined) return receiver;
  const tokens = value.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (tokens.length === 0) throw ConfigError.ofSetting('receiver.token_env', `environment variable ${tokenEnv} holds no token: set it to the bearer token senders present (several, comma-separated)`);
  return { ...receiver, tokens };
}

/** The config's kafka section with the command line's brokers, stage and group over it. */
function kafkaOptions(config: Config, opts: { kafka?: string; kafkaStage?: KafkaStage; kafkaGroup?: string }): { kafka?: KafkaConfig } {
  const brokers = opts.kafka?.split(',') ?? config.kafka?.brokers;
  if (brokers === undefined) {
    if (opts.kafkaStage !== undefined || opts.kafkaGroup !== undefined) throw new ChainwatchError('--kafka-stage and --kafka-group need brokers: add --kafka host:port or kafka.brokers in the config');
    return {};
  }
  const stage = opts.kafkaStage;
  const file = config.source.kafka ?? {};
  const kafka = kafkaConfig({ ...file, ...(stage ? { stages: stage } : {}), ...(opts.kafkaGroup ? { group: opts.kafkaGroup } : {}) }, brokers);
  return { kafka: kafka.security === undefined ? kafka : { ...kafka, client: kafkaClientSecurity(kafka.security, 'kafka', process.env) } };
}

const configCmd = program.command('config').description('check and show configuration');
configCmd.command('check')
  .description('validate a configuration file and the CHAINWATCH_* environment; every error with its location and fix')
  .argument('[file]')
  .action((file?: string) => {
    const c = loadConfig(file);
    process.stdout.write(`ok: ${file ?? '(no file)'}${Object.keys(envOverrides(process.env)).length ? ' + environment overrides' : ''}; receiver ${c.receiver.host}:${c.receiver.port}, state ${c.stateDir}\n`);
  });
configCmd.command('show')
  .description('print the effective configuration, secrets masked')
  .argument('[file]')
  .action((file?: string) => {
    process.stdout.write(showConfig(loadConfig(file)));
  });

program.command('status')
  .description('summary of a running instance: rates, open chains, alerts, Kafka lag')
  .option('--url <url>', 'the instance (its receiver address)', 'http://127.0.0.1:4318')
  .option('--interval <seconds>', 'seconds between the two samples used for rates (0: one sample, no rates)', arg.seconds, 2)
  .option('--token-env <name>', 'environment variable holding a receiver token, for an instance that requires one (receiver.token_env)')
  .action(async (opts: { url: string; interval: number; tokenEnv?: string }) => {
    // The variable may hold a rotation's tokens, comma-separated: any one is let in.
    const token = secretFromEnv(process.env, opts.tokenEnv, '--token-env')?.split(',')[0].trim();
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const get = async (): Promise<StatusDoc> => {
      const res = await fetch(`${opts.url}/status`, { headers }).catch((err: unknown) => {
        const why = describeFetchError(err);
        // A certificate refused is a trust question, not a process that is down.
        const hint = /certificate|self[- ]signed/i.test(why) ? 'trust the CA that signed its certificate: NODE_EXTRA_CA_CERTS=ca.pem chainwatch status …' : 'is it running? (chainwatch serve)';
        throw new ChainwatchError(`cannot reach chainwatch at ${opts.url}: ${why}; ${hint}`);
      });
      if (res.status === 401) {
        throw new ChainwatchError(`${opts.url}/status answered 401: ${opts.tokenEnv === undefined ? 'this instance requires a receiver token: pass --token-env NAME, NAME the environment variable holding it' : `the token in ${opts.tokenEnv} is not one this instance takes (receiver.token_env)`}`);
      }
      if (!res.ok) throw new ChainwatchError(`${opts.url}/status answered ${res.status}`);
      return res.json();
    };
    const a = await get();
    const b = opts.interval > 0 ? await new Promise((r) => setTimeout(r, opts.interval * 1000)).then(get) : a;
    process.stdout.write(formatStatus(opts.url, a, b, opts.interval, Date.now()));
  });

interface RunOptions {
  alertsFile?: string;
  minSeverity?: Severity;
  policies?: string[];
  /** Dry run of policies: no learned detectors, no state written, violations printed. */
  policyTest?: boolean;
  /** Detect without learning, and write nothing into the state directory. */
  frozen?: boolean;
}

/** What learn, replay and policy test read (input-files.ts). */
const INPUTS = 'OTLP/JSON lines or AgentCall JSON lines, or the Collector file exporter\'s proto files; plain, gzip or zstd (- for standard input)';

async function run(files: string[], state: string, mode: 'learn' | 'detect', o: RunOptions = {}): Promise<void> {
  checkInputs(files);
  // Only what saves into the state holds it; --frozen and policy test read it.
  const lock = o.frozen || o.policyTest ? undefined : StateLock.acquire(makeStateDir(state), `chainwatch ${mode === 'learn' ? 'learn' : 'replay'}`);
  try {
    await runOn(files, state, mode, o);
  } finally {
    lock?.release();
  }
}

async function runOn(files: string[], state: string, mode: 'learn' | 'detect', o: RunOptions): Promise<void> {
  const config = { ...defaultEngineConfig, alerts: { ...defaultEngineConfig.alerts, minSeverity: o.minSeverity ?? 'low' } };
  const alertsFile = o.alertsFile;
  const writer = new AlertWriter(alertsFile);
  if (alertsFile) writeFileSync(alertsFile, '');
  const violations: Alert[] = [];
  const noState = (): ChainwatchError => new ChainwatchError(`--frozen judges against a learned state, and ${state} has none: run chainwatch learn first, or replay without --frozen`);
  // Not even a directory: refused before opening the store would make one.
  if (o.frozen && !existsSync(state)) throw noState();
  // A dry run leaves nothing behind: a --state that is not there is a mistake, not a new directory.
  if (o.policyTest && !existsSync(state)) throw new ChainwatchError(`no state directory ${state}: give --state a state directory (chainwatch learn makes one), or leave --state out to check the policy alone`);
  const store = new StateStore(state);
  // A replay lands in the embedded store like live traffic, so the query API can show it later.
  const events = mode === 'detect' && !o.policyTest && !o.frozen ? new StoreWriter(new SqliteEventStore(store.db), { ...defaultStoreWriterConfig, spillDir: join(state, 'spill') }) : undefined;
  const engine = new Engine(config, (a) => {
    if (o.policyTest) violations.push(a);
    else writer.write(a);
    events?.add('alerts', alertRow(a));
  });
  if (events) engine.setRecorder({ call: (c) => events.add('calls', callRow(c)), chain: (ch) => events.add('chains', chainRow(ch)) });
  if (!store.load(engine) && o.frozen) throw noState();
  engine.mode = mode;
  const shadow: ShadowRecord[] = [];
  if (o.policies?.length) {
    engine.setPolicies(new PolicyEngine(loadPolicies(o.policies)));
    engine.setShadowSink((r) => shadow.push(r));
  }
  if (o.policyTest) engine.detectorsOn = false;
  if (o.frozen) engine.learningOn = false;
  const filter = engine.norm.filter;
  const errors: LineError[] = [];
  let rejected = 0;
  // Standard input's size is not known ahead: its progress is what has been read, without a bar.
  const format = files.includes(STDIN) ? ' {spans} spans | {alerts} alerts' : ' {bar} {percentage}% | {spans} spans | {alerts} alerts | ETA {eta}s';
  const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format, stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(totalBytes(files), 0, { spans: 0, alerts: 0 });
  const started = performance.now();
  let done = 0;
  for await (const rec of readInputs(files, filter, (e) => errors.push(e), (n) => (done += n))) {
    if (rec.kind === 'spans') {
      engine.ingestSpans(rec.spans);
      rejected += rec.rejected;
    } else engine.ingestCall(rec.call);
    bar?.update(done, { spans: engine.stats.spans, alerts: Object.values(engine.stats.alerts).reduce((a, b) => a + b, 0) });
  }
  engine.flush();
  bar?.stop();
  writer.flush();
  await events?.close();
  if (writer.pending > 0) throw new ChainwatchError(`cannot write the alerts file ${alertsFile}: ${writer.counters.lastError}; ${writer.pending} alerts were not written, and the baselines in ${state} were not saved: replay again once the file can be written`);
  // Nothing read, and lines refused: the wrong files (an exit code of 0 would let a script go on with an empty baseline).
  if (errors.length > 0 && engine.stats.spans === 0 && engine.stats.calls === 0) {
    throw new InputFormatError(`no telemetry in ${files.map(inputName).join(', ')}: all ${errors.length} lines were refused, the first: ${errors[0].message}; nothing was saved`);
  }
  if (o.policyTest) {
    process.stdout.write(formatPolicyTest(violations, shadow, engine.stats.chains));
    return;
  }
  if (!o.frozen) {
    store.save(engine);
    if (shadow.length) appendFileSync(join(state, 'shadow.jsonl'), shadow.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
  const secs = (performance.now() - started) / 1000;
  const s = engine.stats;
  const out = process.stdout;
  out.write(`${mode === 'learn' ? 'learned' : 'replayed'} ${files.length} file(s) in ${secs.toFixed(1)} s: ${s.spans} spans, ${s.calls} calls, ${s.chains} chains, ${engine.agents.size} agents\n`);
  const phases = [...engine.agents.values()].reduce((acc, a) => ((acc[a.phase] = (acc[a.phase] ?? 0) + 1), acc), {} as Record<string, number>);
  out.write(`agents by phase: ${Object.entries(phases).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}\n`);
  if (mode === 'detect') {
    out.write(`alerts: ${Object.entries(s.alerts).map(([k, v]) => `${k} ${v}`).join(', ')}; ${o.frozen ? `frozen: nothing learned, nothing saved to ${state}` : `chains held back from learning: ${s.chainsQuarantined}`}\n`);
    if (o.policies?.length) out.write(`policy violations: ${s.violations} enforced, ${s.shadowViolations} in shadow mode${o.frozen ? '' : ` (${join(state, 'shadow.jsonl')})`}\n`);
    if (alertsFile) out.write(`alerts written to ${alertsFile}\n`);
  }
  if (rejected || errors.length) {
    out.write(`dropped: ${rejected} spans rejected, ${errors.length} bad lines\n`);
    for (const e of errors.slice(0, 5)) out.write(`  ${e.message}\n`);
  }
}

program.command('learn')
  .description('build baselines from history (treated as normal)')
  .argument('<files...>', INPUTS)
  .addOption(stateOption())
  .action((files: string[], opts: { state: string }) => run(files, opts.state, 'learn'));

program.command('replay')
  .description('detect over recorded telemetry as it would live (and keep learning)')
  .argument('<files...>', INPUTS)
  .addOption(stateOption())
  .requiredOption('--alerts <file>', 'write alerts here as JSON lines')
  .option('--min-severity <level>', 'lowest severity to emit', arg.severity, 'low')
  .option('--policies <files...>', 'declared-scope policy files (YAML)')
  .option('--frozen', 'judge against the learned state as it is: learn nothing, save nothing (a what-if: the same input gives the same alerts every time)')
  .action((files: string[], opts: { state: string; alerts: string; minSeverity: Severity; policies?: string[]; frozen?: boolean }) =>
    run(files, opts.state, 'detect', { alertsFile: opts.alerts, minSeverity: opts.minSeverity, policies: opts.policies, frozen: opts.frozen }));

const policy = program.command('policy').description('declared scope: check, dry-run and draft policies');
policy.command('check')
  .description('validate policy files; errors carry file:line:column and the fix')
  .argument('<files...>')
  .action((files: string[]) => {
    const specs = loadPolicies(files);
    const rules = specs.reduce((n, s) => n + (s.rules?.length ?? 0), 0);
    process.stdout.write(`ok: ${specs.length} policies, ${rules} rules in ${files.length} file(s)\n`);
  });
policy.command('test')
  .description('dry run over recorded telemetry: which calls and chains would violate')
  .argument('<policy>', 'policy file')
  .argument('<traces...>', INPUTS)
  .option('--state <dir>', 'learned state, for rules about new destinations (read only)')
  .action(async (policyFile: string, traces: string[], opts: { state?: string }) => {
    // Without --state, a state of its own for the run, removed after it.
    const state = opts.state ?? mkdtempSync(join(tmpdir(), 'chainwatch-policy-test-'));
    try {
      await run(traces, state, 'detect', { policies: [policyFile], policyTest: true });
    } finally {
      if (opts.state === undefined) rmSync(state, { recursive: true, force: true });
    }
  });
policy.command('suggest')
  .description('draft a least-privilege policy from an agent\'s learned baseline, for review')
  .argument('<agent>', 'agent id')
  .addOption(stateOption())
  .action((agent: string, opts: { state: string }) => {
    process.stdout.write(suggestPolicy(openState(opts.state), agent));
  });

program.command('simulate')
  .description('write a simulated fleet: history.jsonl, live.jsonl (OTLP/JSON lines) and labels.jsonl')
  .option('--out <dir>', 'output directory', 'sim')
  .option('--seed <n>', 'random seed', arg.wholeNumber(0), 7)
  .option('--agents-per-role <n>', 'agents of each of the 5 roles', arg.wholeNumber(1), 4)
  .option('--history-days <n>', 'days of normal history', arg.wholeNumber(0), 14)
  .option('--live-days <n>', 'days of live traffic with attacks', arg.wholeNumber(0), 3)
  .option('--attacks <n>', 'attack chains per class', arg.wholeNumber(0), 6)
  .option('--chains-per-day <n>', 'chains per agent on a weekday (a sixth of it on weekends, but for devops)', arg.wholeNumber(0), defaultSimOptions.chainsPerAgentDay)
  .option('--shared-service <name>', 'one service.name for every agent and no gen_ai.agent.name: one peer group of every role')
  .action((opts: { out: string; seed: number; agentsPerRole: number; historyDays: number; liveDays: number; attacks: number; chainsPerDay: number; sharedService?: string }) => {
    const sim = simulate({
      seed: opts.seed, agentsPerRole: opts.agentsPerRole, historyDays: opts.historyDays, liveDays: opts.liveDays, attacksPerClass: opts.attacks, chainsPerAgentDay: opts.chainsPerDay,
      sharedService: opts.sharedService,
    });
    ensureDir(opts.out);
    const lines = (xs: object[]): string => xs.map((x) => JSON.stringify(x)).join('\n') + '\n';
    writeFileSync(join(opts.out, 'history.jsonl'), lines(sim.history));
    writeFileSync(join(opts.out, 'live.jsonl'), lines(sim.live));
    writeFileSync(join(opts.out, 'labels.jsonl'), lines(sim.labels));
    const attacks = sim.labels.filter((l) => !l.label.startsWith('benign')).length;
    process.stdout.write(`wrote ${opts.out}/history.jsonl (${sim.history.length} requests), live.jsonl (${sim.live.length}), labels.jsonl (${sim.labels.length} chains, ${attacks} attacks)\n`);
  });

program.command('eval')
  .description('precision, recall and F1 per attack class, and false positives per 1,000 benign chains')
  .requiredOption('--labels <file>', 'labels.jsonl from chainwatch simulate')
  .requiredOption('--alerts <file>', 'alerts JSONL from chainwatch replay')
  .option('--min-severity <level>', 'count alerts at or above this severity', arg.severity, 'low')
  .action((opts: { labels: string; alerts: string; minSeverity: Severity }) => {
    const swapped = ': are --labels and --alerts the other way round?';
    const result = evaluate(readLabels(opts.labels, swapped), readAlerts(opts.alerts, swapped), opts.minSeverity);
    process.stdout.write(`${formatEvaluation(result)}\n`);
  });

program.command('demo')
  .description('simulate a small fleet through the real HTTP receiver and show alerts as they fire')
  .option('--port <port>', 'receiver port (0 = any free port)', arg.port, 0)
  .action(async (opts: { port: number }) => {
    const dir = mkdtempSync(join(tmpdir(), 'chainwatch-demo-'));
    try {
      await demo(dir, opts.port);
    } finally {
      rmSync(dir, { recursive: true, force: true }); // a port taken, a receiver error: nothing left behind
    }
  });

/** `chainwatch demo` in `dir`: a simulated fleet through the real receiver, then how it did. */
async function demo(dir: string, port: number): Promise<void> {
  const service = new Service({ stateDir: dir, receiver: { port }, out: process.stdout, pretty: true });
  const address = await service.start();
  const sim = simulate({ agentsPerRole: 3, historyDays: 7, liveDays: 1, attacksPerClass: 1, chainsPerAgentDay: 20 });
  const send = async (doc: object): Promise<void> => {
    const res = await fetch(`${address}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
    if (!res.ok) throw new ChainwatchError(`receiver answered ${res.status}: ${await res.text()}`);
  };
  try {
    process.stderr.write(pc.gray(`receiver on ${address}; teaching 7 days of normal work for ${new Set(sim.labels.map((l) => l.agentId)).size} agents…\n`));
    service.engine.mode = 'learn';
    for (const doc of sim.history) await send(doc);
    service.engine.flush();
    service.engine.mode = 'detect';
    process.stderr.write(pc.gray(`now one live day with ${sim.labels.filter((l) => !l.label.startsWith('benign')).length} attack chains hidden in ${sim.live.length} requests:\n\n`));
    for (const doc of sim.live) await send(doc);
  } finally {
    await service.stop(); // also when a request failed: a listening receiver would keep the process alive
  }
  const labels = new Map(sim.labels.map((l) => [l.traceId, l]));
  const alerts = readAlerts(join(dir, 'alerts.jsonl'));
  process.stdout.write(`\n${formatEvaluation(evaluate(sim.labels, alerts))}\n`);
  const missed = sim.labels.filter((l) => !l.label.startsWith('benign') && !alerts.some((a) => a.traceIds.includes(l.traceId)));
  for (const m of missed) process.stdout.write(pc.yellow(`missed: ${m.label} by ${m.agentId} (${labels.get(m.traceId)?.note})\n`));
}


/** A state directory that exists: the commands that read one must not leave an empty one behind. */
function existingState(dir: string): string {
  if (!existsSync(join(dir, 'state.db'))) throw new ChainwatchError(`no state in ${dir}: give --state the directory chainwatch serve or learn uses, or run chainwatch learn first`);
  return dir;
}

/** The engine saved in a state directory, with the store it came from. */
function loadState(dir: string): { engine: Engine; store: StateStore } {
  const engine = new Engine();
  const store = new StateStore(existingState(dir));
  if (!store.load(engine)) throw new ChainwatchError(`no state in ${dir}: run chainwatch learn first`);
  return { engine, store };
}

const openState = (dir: string): Engine => loadState(dir).engine;

/** Change the engine saved in a state directory and save it, holding the directory meanwhile (see StateLock). */
function changeState(dir: string, command: string, change: (engine: Engine) => void): void {
  const lock = StateLock.acquire(existingState(dir), command);
  try {
    const { engine, store } = loadState(dir);
    change(engine);
    store.save(engine);
    store.close();
  } finally {
    lock.release();
  }
}

/** Work on the state dir's database, closed afterwards (the running service follows our commits). */
function withState<T>(dir: string, work: (db: StateStore['db']) => T): T {
  const store = new StateStore(existingState(dir));
  try {
    return work(store.db);
  } finally {
    store.close();
  }
}

const revocations = program.command('revocations').description('the kill-switch\'s revocations: list, approve, undo (audited)');
revocations.command('list')
  .description('revocations, newest first: what was revoked, for which agent and chain, and whether it was sent')
  .option('--json', 'JSON instead of a table')
  .option('--limit <n>', 'most recent first', arg.wholeNumber(1), 50)
  .addOption(stateOption())
  .action((opts: { json?: boolean; limit: number; state: string }) => {
    const list = withState(opts.state, (db) => listRevocations(db, opts.limit));
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return;
    }
    if (list.length === 0) process.stdout.write('no revocations\n');
    for (const r of list) {
      const sent = r.deliveries.map((d) => `${d.channel} ${d.status}${d.attempts ? ` (${d.attempts} attempt${d.attempts > 1 ? 's' : ''})` : ''}`).join(', ');
      process.stdout.write(`${r.id}  ${r.created}  ${r.kind} ${pc.bold(r.credential)} of ${r.agent}  ${r.status.toUpperCase()} [${r.mode}]  ${sent}\n    ${pc.gray(r.reason)}\n`);
    }
  });
/** A revocation subcommand acting on one id, audited with who and why. */
function revocationAction(name: string, description: string, who: string): Command {
  return revocations.command(name)
    .description(description)
    .argument('<id>', 'revocation id (rev_…)')
    .requiredOption('--by <name>', who)
    .option('--note <text>', 'why', '')
    .addOption(stateOption());
}
revocationAction('approve', 'release a revocation held for approval (a response rule in mode approve)', 'who approves (audited)')
  .action((id: string, opts: { by: string; note: string; state: string }) => {
    withState(opts.state, (db) => approveRevocation(db, id, opts.by, opts.note));
    process.stdout.write(`approved ${id}; the running chainwatch sends it on its next pass\n`);
  });
revocationAction('undo', 'cancel a revocation not yet sent, or queue a restore message for one that was', 'who undoes it (audited)')
  .action((id: string, opts: { by: string; note: string; state: string }) => {
    const r = withState(opts.state, (db) => undoRevocation(db, id, opts.by, opts.note));
    process.stdout.write(r.restoreId ? `undone ${id}; restore message ${r.restoreId} queued for the webhook receiver\n` : `cancelled ${id} before it was sent\n`);
  });

const baseline = program.command('baseline').description('inspect learned baselines');
baseline.command('show')
  .description("an agent's learned baseline: phase, history, destinations, actions and tools, principals, peer group")
  .argument('<agent>', 'agent id')
  .addOption(stateOption())
  .action((agent: string, opts: { state: string }) => {
    process.stdout.write(`${describeAgent(openState(opts.state), agent)}\n`);
  });

baseline.command('forget')
  .description('drop an agent\'s baseline so it learns afresh (its peers judge it meanwhile)')
  .argument('<agent>', 'agent id')
  .addOption(stateOption())
  .action((agent: string, opts: { state: string }) => {
    changeState(opts.state, 'chainwatch baseline forget', (engine) => {
      if (!engine.forget(agent)) throw new ChainwatchError(`no baseline for agent "${agent}" in ${opts.state}`);
    });
    process.stdout.write(`forgot ${agent}: it is learning again\n`);
  });

const alerts = program.command('alerts').description('work with raised alerts');
alerts.command('confirm')
  .description('confirm a flagged chain as benign so its calls are learned')
  .argument('<traceId>', 'trace id of the chain')
  .addOption(stateOption())
  .action((traceId: string, opts: { state: string }) => {
    if (!/^[0-9a-f]{32}$/i.test(traceId)) throw new ChainwatchError(`"${traceId}" is not a trace id: give the 32 hex digits of the chain's trace (an alert's traceId)`);
    changeState(opts.state, 'chainwatch alerts confirm', (engine) => {
      if (!engine.confirm(traceId.toLowerCase())) throw new ChainwatchError(`trace ${traceId} is not held back in ${opts.state} (unknown, or already learned)`);
    });
    process.stdout.write(`learned chain ${traceId}\n`);
  });

program.command('pretty')
  .description('print an alerts JSONL file for humans')
  .argument('<file>')
  .action((file: string) => {
    for (const a of readAlerts(file, ': give pretty an alerts file')) process.stdout.write(`${formatAlert(a)}\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ChainwatchError) process.stderr.write(`chainwatch: ${err.message} [${err.code}]\n`);
  // A file or socket the system refused (a path given that does not exist, a port taken): its
  // message names the path and the reason; a stack trace would only bury it.
  else if (isSystemError(err)) process.stderr.write(`chainwatch: ${err.message}${systemHint(err)}\n`);
  else process.stderr.write(`chainwatch: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

/** What to do about a refused listen: the port is the one thing the user can change. */
function systemHint(err: NodeJS.ErrnoException): string {
  if (err.syscall !== 'listen') return '';
  if (err.code === 'EADDRINUSE') return ' (another process listens there — another chainwatch, or a collector on the OTLP port: stop it, or choose another port with --port or receiver.port, api.port, telemetry.prometheus.port)';
  if (err.code === 'EACCES') return ' (ports below 1024 need privileges: choose a port above 1023)';
  return '';
}

function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string' && /^E[A-Z]+$/.test(String((err as NodeJS.ErrnoException).code));
}
