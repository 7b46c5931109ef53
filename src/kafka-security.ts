/**
 * How chainwatch connects to brokers that require TLS and SASL, as managed Kafka services do:
 * the settings as the config file has them (`kafka.tls`, `kafka.sasl`, and the same on a kafka
 * sink), and in kafkajs's terms with files and the password read.
 */
import type { ConnectionOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';
import { ConfigError } from './errors.js';
import { fileOfSetting, secretFromEnv } from './setting-sources.js';

export interface KafkaSecurityFile {
  tls?: { ca_file?: string; cert_file?: string; key_file?: string; servername?: string; reject_unauthorized?: boolean };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password_env: string };
}

/** What a kafkajs client takes: `ssl` and `sasl`, spread into `new Kafka({ … })`. */
export interface KafkaClientSecurity {
  ssl?: ConnectionOptions;
  sasl?: SASLOptions;
}

/** The settings under `where` (e.g. "kafka", "sinks[2]") resolved: files read, the password from its variable. */
export function kafkaClientSecurity(file: KafkaSecurityFile, where: string, env: NodeJS.ProcessEnv): KafkaClientSecurity {
  const out: KafkaClientSecurity = {};
  const tls = file.tls;
  if (tls !== undefined) {
    const read = (key: 'ca_file' | 'cert_file' | 'key_file'): string | undefined => fileOfSetting(tls[key], `${where}.tls.${key}`)?.toString('utf8');
    if ((tls.cert_file === undefined) !== (tls.key_file === undefined)) throw ConfigError.ofSetting(`${where}.tls`, 'cert_file and key_file go together: a client certificate needs its key');
    const ca = read('ca_file');
    const cert = read('cert_file');
    const key = read('key_file');
    out.ssl = {
      rejectUnauthorized: tls.reject_unauthorized ?? true,
      ...(ca !== undefined ? { ca: [ca] } : {}), ...(cert !== undefined ? { cert, key } : {}), ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    };
  }
  const sasl = file.sasl;
  if (sasl !== undefined) {
    const password = secretFromEnv(env, sasl.password_env, `${where}.sasl.password_env`)!;
    out.sasl = { mechanism: sasl.mechanism, username: sasl.username, password } as SASLOptions;
  }
  return out;
}
