/**
 * What a setting names outside the configuration file — a variable holding a secret, a file
 * (certificates, keys, CAs) — read with a ConfigError naming the setting when it cannot be.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

/** Read a secret from the environment variable the config names. */
export function secretFromEnv(env: NodeJS.ProcessEnv, name: string | undefined, where: string): string | undefined {
  if (name === undefined) return undefined;
  const v = env[name];
  if (v === undefined || v === '') throw ConfigError.ofSetting(where, `environment variable ${name} is not set: export it (secrets are never read from the config file)`);
  return v;
}

/** The contents of the file the setting `where` names; undefined when it names none. */
export function fileOfSetting(path: string | undefined, where: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw ConfigError.ofSetting(where, `cannot read ${path}: ${(err as Error).message}`);
  }
}
