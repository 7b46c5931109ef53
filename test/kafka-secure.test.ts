/**
 * Kafka as managed services run it: a broker (deploy/kafka.sh with KAFKA_SECURE=1) whose listener
 * takes SASL over TLS only. chainwatch's stages, configured with kafka.tls and kafka.sasl, carry
 * spans from it into the engine; a kafka sink with the same settings delivers alerts; a wrong
 * password, or no TLS, is refused with what to check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import type { Alert } from '../src/alerts.js';
import { loadConfig } from '../src/config.js';
import { defaultFormatOptions } from '../src/format-common.js';
import { kafkaClientSecurity } from '../src/kafka-security.js';
import { Service } from '../src/service.js';
import { KafkaSink } from '../src/sink-kafka.js';
import { agentTrace, toProto } from './helpers/spans.js';
import { until } from './helpers/until.js';

const script = fileURLToPath(new URL('../deploy/kafka.sh', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const tsx = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const port = 39092;
const secure = `127.0.0.1:${port + 2}`;
const dir = mkdtempSync(join(tmpdir(), 'chainwatch-kafka-secure-'));
const env = { ...process.env, KAFKA_DIR: join(dir, 'broker'), KAFKA_PORT: String(port), KAFKA_SECURE: '1' };
const ca = join(dir, 'broker', 'tls', 'ca.pem');
const secrets = { KAFKA_PASSWORD: 'chainwatch-secret' };

beforeAll(() => {
  execFileSync('bash', [script, 'start'], { env, stdio: 'pipe', timeout: 180_000 });
}, 200_000);

afterAll(() => {
  execFileSync('bash', [script, 'stop'], { env, stdio: 'pipe', timeout: 60_000 });
  rmSync(dir, { recursive: true, force: true });
}, 70_000);

/** A configuration file for the secured listener, read as serve reads it. */
function configFile(mechanism: string, extra = ''): string {
  const file = join(dir, `${mechanism}.yaml`);
  writeFileSync(file, `kafka:
  brokers: ["${secure}"]
  group: secure-${mechanism}
  topics: { spans: otlp_spans_${mechanism.replace(/-/g, '_')}, calls: calls_${mechanism.replace(/-/g, '_')}, dlq: dlq_${mechanism.replace(/-/g, '_')} }
  tls: { ca_file: "${ca}" }
  sasl: { mechanism: ${mechanism}, username: chainwatch, password_env: KAFKA_PASSWORD }
${extra}`);
  return file;
}

describe('Kafka over SASL_SSL', () => {
  it('runs both stages against brokers that take SASL over TLS only, with SCRAM and with PLAIN', async () => {
    for (const mechanism of ['scram-sha-256', 'plain']) {
      const config = loadConfig(configFile(mechanism), {});
      const kafka = config.kafka!;
      const client = kafkaClientSecurity(kafka.security!, 'kafka', secrets);
      expect(client.sasl).toMatchObject({ mechanism, username: 'chainwatch', password: 'chainwatch-secret' });
      const svc = new Service({ stateDir: join(dir, `state-${mechanism}`), receiver: { port: 0 }, kafka: { ...kafka, client } });
      await svc.start();
      try {
        const producer = new Kafka({ clientId: 'collector', brokers: [secure], logLevel: logLevel.NOTHING, ...client }).producer();
        await producer.connect();
        const { doc } = agentTrace({ t0: Date.now() - 60_000, agentId: `agent-over-${mechanism}`, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }] });
        await producer.send({ topic: kafka.topics.spans, messages: [{ value: Buffer.from(toProto(doc)) }] });
        await producer.disconnect();
        await until(() => svc.engine.agents.has(`agent-over-${mechanism}`), 90_000, 200);
      } finally {
        await svc.stop();
      }
    }
  }, 240_000);

  it('delivers alerts through a kafka sink with the same settings', async () => {
    const client = kafkaClientSecurity({ tls: { ca_file: ca }, sasl: { mechanism: 'scram-sha-512', username: 'chainwatch', password_env: 'KAFKA_PASSWORD' } }, 'sinks[0]', secrets);
    const sink = new KafkaSink({ brokers: [secure], topic: 'alerts_secure', format: 'json', clientId: 'chainwatch-alerts', client }, defaultFormatOptions);
    const alert = { id: 'a'.repeat(32), agent: { id: 'agent-x' } } as Alert;
    await sink.send([alert]);
    await sink.close();
    const consumer = new Kafka({ clientId: 'siem', brokers: [secure], logLevel: logLevel.NOTHING, ...client }).consumer({ groupId: 'siem' });
    await consumer.connect();
    await consumer.subscribe({ topic: 'alerts_secure', fromBeginning: true });
    const got = await new Promise<string>((resolve) => void consumer.run({ eachMessage: async ({ message }) => resolve(String(message.key)) }));
    await consumer.disconnect();
    expect(got).toBe('agent-x');
  }, 60_000);

  it('refuses to start with a wrong password or without TLS, saying what to check', () => {
    const serve = (file: string, password: string) => spawnSync(process.execPath, ['--import', tsx, cli, 'serve', '--config', file, '--state', join(dir, 'refused'), '--port', '0'],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, KAFKA_PASSWORD: password, CHAINWATCH_TELEMETRY__PROMETHEUS__ENABLED: 'false', CHAINWATCH_API__ENABLED: 'false' } });
    const wrong = serve(configFile('scram-sha-256'), 'not-the-password');
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/cannot use the Kafka brokers 127\.0\.0\.1:39094: .*authentication failed.*; check kafka\.sasl \(user chainwatch, mechanism scram-sha-256, the password in KAFKA_PASSWORD\) \[CW_ERR_KAFKA\]/);
    writeFileSync(join(dir, 'no-tls.yaml'), `kafka:\n  brokers: ["${secure}"]\n  sasl: { mechanism: plain, username: chainwatch, password_env: KAFKA_PASSWORD }\n`);
    const plaintext = serve(join(dir, 'no-tls.yaml'), 'chainwatch-secret');
    expect(plaintext.status).toBe(1);
    expect(plaintext.stderr).toMatch(/cannot use the Kafka brokers 127\.0\.0\.1:39094: Closed connection; the brokers closed the connection: if their listener takes TLS \(SSL, SASL_SSL\), add kafka\.tls \[CW_ERR_KAFKA\]/);
    const unset = spawnSync(process.execPath, ['--import', tsx, cli, 'serve', '--config', configFile('plain'), '--state', join(dir, 'refused'), '--port', '0'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, KAFKA_PASSWORD: '' } });
    expect(unset.stderr).toMatch(/kafka\.sasl\.password_env: environment variable KAFKA_PASSWORD is not set/);
  }, 240_000);
});
