/**
 * Parsers for the command line's option values: a value that is not what the option takes stops
 * the command before it starts, with commander's "option '--x <n>' argument 'abc' is invalid"
 * and what to give instead — not a stack trace from deep inside the command (`--agents-per-role
 * abc` crashed the simulator, `--port 99999` the listener).
 */
import { InvalidArgumentError } from 'commander';
import { SEVERITIES } from './severity.js';

/** A whole number from `min` to `max`. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `Give a whole number, ${min} or more.` : `Give a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}

export const port = wholeNumber(0, 65_535);

/** A number of seconds, 0 or more (fractions allowed). */
export function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0) || !Number.isFinite(n)) throw new InvalidArgumentError('Give a number of seconds, 0 or more, e.g. 2 or 0.5.');
  return n;
}

/** One of `choices`, as written. */
export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`Give one of ${choices.join(', ')}.`);
    return value as T;
  };
}

export const severity = oneOf(SEVERITIES);
