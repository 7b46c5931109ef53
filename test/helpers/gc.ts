/**
 * V8's garbage collector for tests that measure what it keeps: exposed at run time (vitest's
 * workers start without --expose-gc), reached through a new context, where the flag has taken.
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

v8.setFlagsFromString('--expose-gc');

export const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
