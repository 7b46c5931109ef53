/**
 * One writer per state directory. `chainwatch serve` saves its agents every minute and on stop;
 * a second `serve`, or a `learn`, `replay`, `baseline forget` or `alerts confirm` saving into the
 * same directory meanwhile, had its writes overwritten by the next save (or overwrote the
 * service's), and two services sent the kill-switch's outbox twice. The lock is a file naming the
 * process that holds it; a lock whose process is gone (a crash, SIGKILL) is taken over.
 * Commands that only read (baseline show, revocations: the service follows their commits) take none.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateError } from './errors.js';

interface Holder { pid: number; command: string; since: string }

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM'; // exists, owned by another user
  }
}

export class StateLock {
  private constructor(private readonly path: string) {}

  /**
   * Hold `dir` for `command` (e.g. "chainwatch serve"), or throw a StateError naming the process
   * that holds it. The same process may take it again (a service restarted in place).
   */
  static acquire(dir: string, command: string): StateLock {
    const path = join(dir, 'lock');
    const mine: Holder = { pid: process.pid, command, since: new Date().toISOString() };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(path, `${JSON.stringify(mine)}\n`, { flag: 'wx' });
        return new StateLock(path);
      } catch (err) {
        if ((err as { code?: string }).code !== 'EEXIST') throw new StateError(`cannot lock the state directory ${dir}: ${(err as Error).message}`, { cause: err });
      }
      let held: Holder | undefined;
      try {
        held = JSON.parse(readFileSync(path, 'utf8')) as Holder;
      } catch {
        held = undefined; // unreadable (cut short by a crash): nobody's
      }
      if (held !== undefined && held.pid !== process.pid && alive(held.pid)) {
        throw new StateError(`the state directory ${dir} is in use by ${held.command} (pid ${held.pid}, since ${held.since}): stop it first, or give --state another directory (if pid ${held.pid} is not chainwatch — a directory copied from another machine — remove ${path})`);
      }
      try {
        unlinkSync(path); // left by a process that is gone
      } catch {
        // another process took it over first: the next attempt says who
      }
    }
    throw new StateError(`cannot lock the state directory ${dir}: another process keeps taking it`);
  }

  release(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // already gone (the directory was removed): nothing to release
    }
  }
}
