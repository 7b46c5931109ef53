/**
 * One writer per state directory: a live process holding it is named and refused; a lock left by
 * a process that is gone, or cut short, is taken over; the commands that save into a state
 * directory (learn, replay, baseline forget, alerts confirm) refuse while a service holds it, and
 * touch nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StateError } from '../src/errors.js';
import { StateLock, processStart } from '../src/state-lock.js';
import { Service } from '../src/service.js';
import { StateStore } from '../src/state-store.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-lock-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const tsx = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

/** A live process that is not this one: its pid written as a lock's holder. */
function otherProcess(): ChildProcess {
  const p = spawn('sleep', ['60']);
  children.push(p);
  return p;
}
const holdAs = (state: string, pid: number, command = 'chainwatch serve'): void => {
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'lock'), JSON.stringify({ pid, command, since: '2026-11-27T10:00:00.000Z' }));
};

describe('state lock', () => {
  it('refuses a directory a live process holds, naming it, and takes over one whose process is gone', async () => {
    const state = join(dir, 'a');
    const other = otherProcess();
    holdAs(state, other.pid!);
    expect(() => StateLock.acquire(state, 'chainwatch learn')).toThrow(StateError);
    expect(() => StateLock.acquire(state, 'chainwatch learn')).toThrow(new RegExp(`in use by chainwatch serve \\(pid ${other.pid}, since 2026-11-27T10:00:00\\.000Z\\): stop it first`));
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    const lock = StateLock.acquire(state, 'chainwatch learn');
    expect(JSON.parse(readFileSync(join(state, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid, command: 'chainwatch learn' });
    lock.release();
    expect(existsSync(join(state, 'lock'))).toBe(false);
  });

  it('takes over a lock whose pid now names another process (a container started again), and refuses one its process still holds', () => {
    const state = join(dir, 'reused');
    const other = otherProcess();
    const started = processStart(other.pid!);
    expect(started).toMatch(/^[0-9a-f-]{36}\/\d+$/); // Linux: the boot and the tick the process started at
    // The pid of a live process, taken by one that started at another moment: not its lock any more.
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, 'lock'), JSON.stringify({ pid: other.pid, command: 'chainwatch serve', since: '2026-11-27T10:00:00.000Z', started: `${started!.split('/')[0]}/1` }));
    const lock = StateLock.acquire(state, 'chainwatch learn');
    const mine = JSON.parse(readFileSync(join(state, 'lock'), 'utf8'));
    expect(mine).toMatchObject({ pid: process.pid, command: 'chainwatch learn', started: processStart(process.pid) });
    lock.release();
    // The same pid with its own start: still held.
    writeFileSync(join(state, 'lock'), JSON.stringify({ pid: other.pid, command: 'chainwatch serve', since: '2026-11-27T10:00:00.000Z', started }));
    expect(() => StateLock.acquire(state, 'chainwatch learn')).toThrow(new RegExp(`in use by chainwatch serve \\(pid ${other.pid},`));
  });

  it('takes over a lock cut short, and lets the process that holds it take it again', () => {
    const state = join(dir, 'b');
    mkdirSync(state);
    writeFileSync(join(state, 'lock'), '{"pid": 12');
    const first = StateLock.acquire(state, 'chainwatch serve');
    expect(JSON.parse(readFileSync(join(state, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid, command: 'chainwatch serve' });
    const again = StateLock.acquire(state, 'chainwatch learn'); // this process again (a service restarted in place)
    expect(JSON.parse(readFileSync(join(state, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid, command: 'chainwatch learn' });
    again.release();
    first.release();
    expect(existsSync(join(state, 'lock'))).toBe(false);
  });

  it('keeps a second service off a directory a running one holds, and frees it at stop', async () => {
    const state = join(dir, 'c');
    const one = new Service({ stateDir: state, receiver: { port: 0 }, api: { enabled: false, host: '127.0.0.1', port: 0 } });
    await one.start();
    const lock = JSON.parse(readFileSync(join(state, 'lock'), 'utf8'));
    expect(lock).toMatchObject({ pid: process.pid, command: 'chainwatch serve' });
    await one.stop();
    expect(existsSync(join(state, 'lock'))).toBe(false);
  });

  it('refuses serve, learn, replay, baseline forget and alerts confirm while another process holds the directory, touching nothing', () => {
    const state = join(dir, 'd');
    const other = otherProcess();
    holdAs(state, other.pid!);
    const history = join(dir, 'history.jsonl');
    writeFileSync(history, '');
    const alerts = join(dir, 'alerts.jsonl');
    writeFileSync(alerts, 'earlier alerts\n');
    const run = (...args: string[]) => spawnSync(process.execPath, ['--import', tsx, cli, ...args], { encoding: 'utf8', timeout: 60_000 });
    // serve before it opens the store or loads the state (a second serve was refused only at start, its state loaded).
    for (const args of [['serve', '--state', state, '--port', '4399'], ['learn', history, '--state', state], ['replay', history, '--state', state, '--alerts', alerts]]) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`the state directory .*d is in use by chainwatch serve \\(pid ${other.pid}`));
    }
    expect(readFileSync(alerts, 'utf8')).toBe('earlier alerts\n');
    expect(existsSync(join(state, 'state.db'))).toBe(false);
    new StateStore(state).close(); // a state to change
    for (const args of [['baseline', 'forget', 'some-agent', '--state', state], ['alerts', 'confirm', 'ab'.repeat(16), '--state', state]]) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/is in use by chainwatch serve/);
    }
  }, 60_000);
});
