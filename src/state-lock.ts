/**
 * One writer per state directory. `chainwatch serve` saves its agents every minute and on stop;
 * a second `serve`, or a `learn`, `replay`, `baseline forget` or `alerts confirm` saving into the
 * same directory meanwhile, had its writes overwritten by the next save (or overwrote the
 * service's), and two services sent the kill-switch's outbox twice. The lock is a file naming the
 * process that holds it; a lock whose process is gone (a crash, SIGKILL) is taken over — and so is
 * one whose pid now names another process: a container started again has pids of the same few
 * numbers, and its shell or init could hold the pid the service had (the process's start, where
 * the system tells it, tells them apart).
 * Commands that only read (baseline show, revocations: the service follows their commits) take none.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateError } from './errors.js';

/** `started`: when the process started, where the system tells it (Linux), to tell a reused pid. */
interface Holder { pid: number; command: string; since: string; started?: string }

/**
 * A process's start as Linux gives it — the boot and the clock tick since then it started at (a
 * pid's number is reused; this pair is not) — or undefined where there is no /proc.
 */
export function processStart(pid: number): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    // The fields after the command (in parentheses, which may hold anything) from the third on: starttime is the 22nd.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return `${boot}/${stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[19]}`;
  } catch {
    return undefined;
  }
}

/** Whether the lock's holder is still running: its pid, and the process there the one that took it. */
function alive(held: Holder): boolean {
  try {
    process.kill(held.pid, 0);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EPERM') return false; // EPERM: exists, owned by another user
  }
  if (held.started === undefined) return true; // taken where the start is not told: the pid alone
  const now = processStart(held.pid);
  return now === undefined || now === held.started;
}

export class StateLock {
  private constructor(private readonly path: string) {}

  /**
   * Hold `dir` for `command` (e.g. "chainwatch serve"), or throw a StateError naming the process
   * that holds it. The same process may take it again (a service restarted in place).
   */
  static acquire(dir: string, command: string): StateLock {
    const path = join(dir, 'lock');
    const mine: Holder = { pid: process.pid, command, since: new Date().toISOString(), started: processStart(process.pid) };
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
      if (held !== undefined && held.pid !== process.pid && alive(held)) {
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
