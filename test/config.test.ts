/** Configuration: every broken config gives the expected located message; env overrides; masking. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envOverrides, loadConfig, showConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-config-'));
let n = 0;
function file(text: string): string {
  const f = join(dir, `c${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}

function errors(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig(file(text), env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
  }
  return [];
}

describe('configuration', () => {
  it.each([
    ['a misspelt top-level key', 'recevier: { port: 1 }\n', /^1:1 recevier: unknown key "recevier": did you mean "receiver"\?$/],
    ['a misspelt nested key', 'receiver:\n  prot: 4318\n', /^2:3 receiver\.prot: unknown key "prot": did you mean "port"\?$/],
    ['a key cut short', 'receiver:\n  max_body: 1048576\n', /^2:3 receiver\.max_body: unknown key "max_body": did you mean "max_body_bytes"\?$/],
    ['a key like none known', 'receiver:\n  compression: gzip\n', /^2:3 receiver\.compression: unknown key "compression": remove it or check its spelling \(known here: host, port, grpc_port, max_body_bytes, retry_after_seconds, token_env, tls\)$/],
    ['an unknown key among many', 'frobnicate: 1\n', /^1:1 frobnicate: unknown key "frobnicate": remove it or check its spelling$/],
    ['a port of the wrong type', 'receiver:\n  port: "http"\n', /^2:9 receiver\.port: must be integer, not "http"$/],
    ['a port out of range', 'receiver:\n  port: 70000\n', /^2:9 receiver\.port: must be <= 65535$/],
    ['a bad log level', 'logging:\n  level: loud\n', /^2:10 logging\.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"$/],
    ['a bad severity', 'engine:\n  alerts:\n    min_severity: urgent\n', /engine\.alerts\.min_severity: must be one of "info", "low"/],
    ['a bad duration', 'engine:\n  chains:\n    idle_timeout: five minutes\n', /^3:19 engine\.chains\.idle_timeout: "five minutes" is not valid here: write a duration, e\.g\. 90s, 10m, 1h30m or 30d \(units ms, s, m, h, d; a bare number is seconds\)$/],
    ['an unknown mapping field', 'engine:\n  normalize:\n    mapping:\n      agentIdd: [x]\n', /^4:7 engine\.normalize\.mapping\.agentIdd: unknown mapping field "agentIdd": did you mean "agentId"\? use one of operation, agentId/],
    ['a non-http OTLP endpoint', 'telemetry:\n  otlp:\n    endpoint: ftp://x\n', /telemetry\.otlp\.endpoint: "ftp:\/\/x" is not valid here: /],
    ['a YAML syntax error', 'receiver: [\n', /YAML: /],
    ['a policy file given as the configuration, in one line', 'version: 1\npolicies:\n  - { name: p, match: { name: [a] } }\n', /^1:1 : this is a policy file, not a configuration: check it with chainwatch policy check/],
    ['an empty state directory', 'state_dir: ""\n', /^1:12 state_dir: must not be empty$/],
    ['a Kafka section without brokers', 'kafka:\n  brokers: []\n', /^2:12 kafka\.brokers: must not be empty$/],
    ['a Kafka broker without a port', 'kafka:\n  brokers: [kafka-0]\n', /^2:13 kafka\.brokers\[0\]: "kafka-0" is not valid here: write host:port, e.g. kafka-0:9092$/],
    ['an unknown Kafka stage', 'kafka:\n  brokers: ["k:9092"]\n  stages: all\n', /^3:11 kafka\.stages: must be one of "ingest", "detect", "both"$/],
    ['a bad Kafka commit interval', 'kafka:\n  brokers: ["k:9092"]\n  commit_interval: often\n', /^3:20 kafka\.commit_interval: "often" is not valid here: write a duration/],
  ])('reports %s', (_name, text, expected) => {
    const found = errors(text);
    expect(found.some((e) => expected.test(e)), found.join('\n')).toBe(true);
  });

  it('reports a bad duration with the other mistakes, all at once', () => {
    const found = errors('engine:\n  lifecycle:\n    min_calls: -3\n  chains:\n    idle_timeout: 5 minutes\nreceiver:\n  port: 99999\n');
    expect(found).toHaveLength(3);
    expect(found.join('\n')).toMatch(/^3:16 engine\.lifecycle\.min_calls: .*\n5:19 engine\.chains\.idle_timeout: "5 minutes" is not valid here: write a duration/m);
    expect(found.join('\n')).toMatch(/receiver\.port: must be <= 65535/);
    // An unknown mapping field (the engine's list of fields, not the schema's) beside them too.
    expect(errors('receiver:\n  port: 99999\nengine:\n  normalize:\n    mapping:\n      agentIdd: [x]\n')).toEqual([
      '2:9 receiver.port: must be <= 65535',
      expect.stringMatching(/^6:7 engine\.normalize\.mapping\.agentIdd: unknown mapping field "agentIdd": did you mean "agentId"\? use one of operation, agentId/),
    ]);
    // From the environment too, beside a bad file.
    expect(errors('receiver:\n  port: 99999\n', { CHAINWATCH_ENGINE__CHAINS__IDLE_TIMEOUT: 'soon' }).join('\n')).toMatch(/receiver\.port[^]*CHAINWATCH_ENGINE__CHAINS__IDLE_TIMEOUT: "soon" is not valid here/);
  });

  it('takes every duration the parser reads, and only those', async () => {
    const { parseDuration } = await import('../src/duration.js');
    const samples = ['90s', '10m', '1h30m', '30d', '250ms', '1.5h', '2D', '10M', ' 5m ', '5', '', '5 m', 'five', '1w', '-5m', '1h-', 'm', '1.m'];
    for (const v of samples) {
      const accepted = errors(`engine:\n  chains:\n    idle_timeout: "${v}"\n`).length === 0;
      expect(accepted, v).toBe(parseDuration(v) !== undefined);
    }
    expect(loadConfig(file('engine:\n  chains:\n    idle_timeout: 1h30m\n'), {}).engine.chains.idleTimeoutMs).toBe(5_400_000);
    expect(loadConfig(file('engine:\n  chains:\n    idle_timeout: 90\n'), {}).engine.chains.idleTimeoutMs).toBe(90_000);
    expect(errors('engine:\n  chains:\n    idle_timeout: -90\n').join('\n')).toMatch(/idle_timeout: must be >= 0/);
  });

  it('takes a mapping field from the environment, which can spell it in capitals only', () => {
    const c = loadConfig(undefined, { CHAINWATCH_ENGINE__NORMALIZE__MAPPING__AGENTID: '["my.agent.id", "gen_ai.agent.id"]' });
    expect(c.engine.normalize.mapping.agentId).toEqual(['my.agent.id', 'gen_ai.agent.id']);
    expect(loadConfig(file('engine:\n  normalize:\n    mapping:\n      AgentName: [my.agent.name]\n'), {}).engine.normalize.mapping.agentName).toEqual(['my.agent.name']);
  });

  it('reads the Kafka section with its defaults, environment over file', () => {
    const c = loadConfig(file('kafka:\n  brokers: ["kafka-0:9092", "kafka-1:9092"]\n  stages: detect\n  topics: { calls: agent_calls }\n'), { CHAINWATCH_KAFKA__SESSION_TIMEOUT: '10s' });
    expect(c.kafka).toEqual({
      brokers: ['kafka-0:9092', 'kafka-1:9092'], stages: ['detect'], group: 'chainwatch', sessionTimeoutMs: 10_000, commitIntervalMs: 1_000, callsPartitions: 8,
      topics: { spans: 'otlp_spans', calls: 'agent_calls', dlq: 'otlp_spans_dlq' },
    });
    expect(loadConfig(file('{}\n'), {}).kafka).toBeUndefined();
  });

  it('reports every error at once', () => {
    expect(errors('receiver:\n  port: "x"\n  hots: y\nlogging:\n  level: loud\n').length).toBe(3);
  });

  it('rejects bad values from the environment, naming the variable to fix, and spells a suggested key as a variable', () => {
    expect(errors('{}\n', { CHAINWATCH_RECEIVER__PORT: 'abc' })).toEqual(['0:0 CHAINWATCH_RECEIVER__PORT: must be integer, not "abc"']);
    expect(errors('{}\n', { CHAINWATCH_RECEIVER__PROT: '1' })).toEqual(['0:0 CHAINWATCH_RECEIVER__PROT: unknown key "prot": did you mean CHAINWATCH_RECEIVER__PORT?']);
    expect(errors('{}\n', { CHAINWATCH_RECIEVER__PORT: '1' })).toEqual(['0:0 CHAINWATCH_RECIEVER__PORT: unknown key "reciever": did you mean CHAINWATCH_RECEIVER__PORT?']);
    // A value given whole (a list, a mapping): the variable, and where inside it.
    expect(errors('{}\n', { CHAINWATCH_KAFKA__BROKERS: '[kafka0]' })).toEqual([expect.stringMatching(/^0:0 CHAINWATCH_KAFKA__BROKERS \(kafka\.brokers\[0\]\): "kafka0" is not valid here: write host:port/)]);
    const e = (() => { try { loadConfig(undefined, { CHAINWATCH_RECEIVER__PORT: 'abc' }); } catch (err) { return err as Error; } })();
    expect(e?.message).toBe('CHAINWATCH_RECEIVER__PORT: must be integer, not "abc"');
  });

  it('lets CHAINWATCH_* variables override the file, typed as YAML scalars', () => {
    const c = loadConfig(file('receiver:\n  port: 4318\nengine:\n  lifecycle:\n    min_calls: 10\n'), {
      CHAINWATCH_RECEIVER__PORT: '4400', CHAINWATCH_ENGINE__LIFECYCLE__MIN_HISTORY: '2h', CHAINWATCH_TELEMETRY__PROMETHEUS__ENABLED: 'false', OTHER: 'x',
    });
    expect(c.receiver.port).toBe(4400);
    expect(c.engine.lifecycle).toEqual({ minCalls: 10, minHistoryMs: 7_200_000, minPeers: 3 });
    expect(c.telemetry.prometheus.enabled).toBe(false);
    expect(envOverrides({ CHAINWATCH_A__B: '3', PATH: '/bin' })).toEqual({ a: { b: 3 } });
  });

  it('has working defaults without a file', () => {
    const c = loadConfig(undefined, {});
    expect(c.receiver).toMatchObject({ host: '127.0.0.1', port: 4318 });
    expect(c.telemetry.prometheus).toEqual({ enabled: true, host: '127.0.0.1', port: 9464 });
    expect(c.shutdownDeadlineMs).toBe(10_000);
    expect(c.engine.chains.maxClockSkewMs).toBe(600_000);
    expect(loadConfig(file('engine:\n  chains:\n    max_clock_skew: 2m\n'), {}).engine.chains.maxClockSkewMs).toBe(120_000);
    expect(c.engine.chains.maxSpanAgeMs).toBe(7 * 86_400_000);
    expect(loadConfig(file('engine:\n  chains:\n    max_span_age: 2d\n'), {}).engine.chains.maxSpanAgeMs).toBe(2 * 86_400_000);
    expect(() => loadConfig(file('engine:\n  chains:\n    max_span_age: a week\n'), {})).toThrow(/engine\.chains\.max_span_age/);
  });

  it('masks secrets in config show', () => {
    const c = loadConfig(file('telemetry:\n  otlp:\n    enabled: true\n    endpoint: https://collector.example/v1/metrics\n    headers: { authorization: "Bearer s3cr3t-token" }\n'), {});
    const shown = showConfig(c);
    expect(shown).not.toContain('s3cr3t-token');
    expect(shown).toMatch(/authorization: "\*{8}"/);
    expect(shown).toContain('https://collector.example/v1/metrics');
  });

  it('names an unreadable file', () => {
    expect(() => loadConfig('/nonexistent/chainwatch.yaml', {})).toThrow(/\/nonexistent\/chainwatch\.yaml:1:1: cannot read/);
  });
});

describe('sinks, response and store configuration', () => {
  it('locates bad sinks and response rules', () => {
    // A sink is checked as the kind its type names: only that kind's complaints, each once.
    expect(errors('sinks:\n  - { type: syslog, host: siem, port: 99999 }\n')).toEqual(['2:39 sinks[0].port: must be <= 65535']);
    expect(errors('sinks:\n  - type: splunk\n    url: https://splunk:8088\n  - type: pigeon\n  - path: a.jsonl\n')).toEqual([
      '2:5 sinks[0].type: "splunk" is not a known type: did you mean "splunk_hec"? use one of "file", "webhook", "splunk_hec", "elasticsearch", "syslog", "kafka"',
      '4:5 sinks[1].type: "pigeon" is not a known type: use one of "file", "webhook", "splunk_hec", "elasticsearch", "syslog", "kafka"',
      '5:5 sinks[2]: missing "type": add one of "file", "webhook", "splunk_hec", "elasticsearch", "syslog", "kafka"',
    ]);
    expect(errors('response:\n  rules:\n    - { name: r, mode: nuke }\n').join('\n')).toMatch(/response\.rules\[0\]\.mode: must be one of "off", "dry-run", "approve", "auto"/);
    expect(errors('store:\n  kind: postgres\n').join('\n')).toMatch(/store\.kind: must be one of "sqlite", "clickhouse"/);
    expect(errors('response:\n  cooldown: soon\n').join('\n')).toMatch(/response\.cooldown: "soon" is not valid here: write a duration/);
  });

  it('reads secrets only from the environment variables the config names', async () => {
    const { buildSink, killSwitchConfig } = await import('../src/sink-factory.js');
    const c = loadConfig(file('sinks:\n  - { type: splunk_hec, url: "https://splunk:8088/services/collector/event", token_env: CHAINWATCH_HEC_TOKEN }\nresponse:\n  webhook: { url: "https://idp/revoke", secret_env: REVOKE_SECRET }\n'), { CHAINWATCH_HEC_TOKEN: 'x' });
    // A secret's variable is not mistaken for a config path, even with our prefix.
    expect(envOverrides({ CHAINWATCH_HEC_TOKEN: 'x' })).toEqual({});
    expect(() => buildSink(c.sinks[0], 0, {}, c.format)).toThrow(/^sinks\[0\]\.token_env: environment variable CHAINWATCH_HEC_TOKEN is not set: export it/);
    expect(buildSink(c.sinks[0], 0, { CHAINWATCH_HEC_TOKEN: 'abc' }, c.format).name).toBe('splunk_hec splunk:8088');
    expect(() => killSwitchConfig(c.response!, { REVOKE_SECRET: 'whsec_c2hvcnQ=' })).toThrow(/whsec_ \+ base64 of 24–64 random bytes/);
    expect(killSwitchConfig(c.response!, { REVOKE_SECRET: `whsec_${Buffer.alloc(32).toString('base64')}` }).webhook?.key).toHaveLength(32);
    expect(showConfig(c)).not.toContain('abc');
    // Files a setting names (a CA, a client certificate) likewise: the setting, when they cannot be read.
    const tls = loadConfig(file('sinks:\n  - { type: syslog, host: siem, port: 6514, tls: { ca_file: /nonexistent/ca.pem } }\n  - { type: kafka, brokers: ["k:9093"], topic: alerts, tls: { ca_file: /nonexistent/kafka-ca.pem } }\n'), {});
    expect(() => buildSink(tls.sinks[0], 0, {}, tls.format)).toThrow(/^sinks\[0\]\.tls\.ca_file: cannot read \/nonexistent\/ca\.pem: ENOENT/);
    expect(() => buildSink(tls.sinks[1], 1, {}, tls.format)).toThrow(/^sinks\[1\]\.tls\.ca_file: cannot read \/nonexistent\/kafka-ca\.pem: ENOENT/);
  });
});
