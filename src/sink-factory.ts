/** Sinks and the kill-switch configuration from the config file, secrets read from the environment. */
import type { Config, SinkFile } from './config.js';
import { parseDuration } from './duration.js';
import type { FormatOptions } from './format-common.js';
import { defaultSyslogOptions } from './format-syslog.js';
import type { KillSwitchConfig } from './kill-switch.js';
import { HecSink, WebhookSink } from './sink-http.js';
import { ElasticsearchSink } from './sink-elasticsearch.js';
import { KafkaSink } from './sink-kafka.js';
import { kafkaClientSecurity } from './kafka-security.js';
import { SyslogSink } from './sink-syslog.js';
import { FileSink, type SinkTransport } from './sinks.js';
import { fileOfSetting, secretFromEnv } from './setting-sources.js';
import { webhookKey } from './webhook-sign.js';

const ms = (v: string | number | undefined, fallback: number): number => (v === undefined ? fallback : parseDuration(v) ?? fallback);

export function buildSink(s: SinkFile, i: number, env: NodeJS.ProcessEnv, o: FormatOptions): SinkTransport {
  const where = `sinks[${i}]`;
  switch (s.type) {
    case 'file': return new FileSink(s.path, s.format ?? 'json', o);
    case 'webhook': {
      const secret = secretFromEnv(env, s.secret_env, `${where}.secret_env`);
      return new WebhookSink({ url: s.url, format: s.format ?? 'json', headers: {}, ...(secret ? { signingKey: webhookKey(secret, `${where}.secret_env`) } : {}), timeoutMs: ms(s.timeout, 15_000) }, o);
    }
    case 'splunk_hec':
      return new HecSink({ url: s.url, token: secretFromEnv(env, s.token_env, `${where}.token_env`)!, format: s.format ?? 'json', sourcetype: s.sourcetype ?? '_json', timeoutMs: ms(s.timeout, 15_000), ...(s.index ? { index: s.index } : {}), ...(s.host ? { host: s.host } : {}) }, o);
    case 'elasticsearch': {
      const apiKey = secretFromEnv(env, s.api_key_env, `${where}.api_key_env`);
      return new ElasticsearchSink({ url: s.url, index: s.index ?? 'logs-chainwatch.alerts-default', format: s.format ?? 'ecs', timeoutMs: ms(s.timeout, 15_000), ...(apiKey ? { apiKey } : {}) }, o);
    }
    case 'syslog':
      return new SyslogSink({
        host: s.host, port: s.port, format: s.format ?? 'cef', timeoutMs: ms(s.timeout, 10_000),
        syslog: { ...defaultSyslogOptions, ...(s.facility !== undefined ? { facility: s.facility } : {}), ...(s.app_name ? { appName: s.app_name } : {}), ...(s.sd_id ? { sdId: s.sd_id } : {}) },
        ...(s.tls ? { tls: { rejectUnauthorized: s.tls.reject_unauthorized ?? true, ...(s.tls.ca_file ? { ca: fileOfSetting(s.tls.ca_file, `${where}.tls.ca_file`)!.toString('utf8') } : {}), ...(s.tls.servername ? { servername: s.tls.servername } : {}) } } : {}),
      }, o);
    case 'kafka': {
      const client = s.tls !== undefined || s.sasl !== undefined ? kafkaClientSecurity(s, where, env) : undefined;
      return new KafkaSink({ brokers: s.brokers, topic: s.topic, format: s.format ?? 'json', clientId: 'chainwatch-alerts', ...(client ? { client } : {}) }, o);
    }
  }
}

export function killSwitchConfig(r: NonNullable<Config['response']>, env: NodeJS.ProcessEnv, linkTemplate?: string): KillSwitchConfig {
  const out: KillSwitchConfig = { policy: r.policy, retry: r.retry };
  if (linkTemplate !== undefined) out.linkTemplate = linkTemplate;
  if (r.webhook) out.webhook = { url: r.webhook.url, timeoutMs: r.webhook.timeoutMs, key: webhookKey(secretFromEnv(env, r.webhook.secretEnv, 'response.webhook.secret_env')!, 'response.webhook.secret_env') };
  if (r.ssf) {
    const auth = secretFromEnv(env, r.ssf.authorizationEnv, 'response.ssf.authorization_env');
    out.ssf = { endpoint: r.ssf.endpoint, issuer: r.ssf.issuer, audience: r.ssf.audience, credentialType: r.ssf.credentialType, timeoutMs: r.ssf.timeoutMs, ...(auth ? { authorization: auth } : {}) };
  }
  return out;
}
