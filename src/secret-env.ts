import { ConfigError } from './errors.js';

/** Read a secret from the environment variable the config names. */
export function secretFromEnv(env: NodeJS.ProcessEnv, name: string | undefined, where: string): string | undefined {
  if (name === undefined) return undefined;
  const v = env[name];
  if (v === undefined || v === '') throw ConfigError.ofSetting(where, `environment variable ${name} is not set: export it (secrets are never read from the config file)`);
  return v;
}
