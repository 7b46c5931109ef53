/** What the benches that run `chainwatch serve` as a process of its own share: polling, CPU meters, the process. */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { packagePath } from '../../src/package-path.js';

/**
 * The V8 flags chainwatch runs with, as its bin's shebang gives them (src/cli.ts, the one place
 * they are written; `npm start`, the benches' scripts and the Dockerfile repeat them, and
 * test/deploy.test.ts holds them alike).
 */
export function serviceNodeFlags(): string[] {
  const shebang = readFileSync(packagePath('src', 'cli.ts'), 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S node((?: --[a-z0-9-]+=\S+)+)$/.exec(shebang);
  if (m === null) throw new Error(`src/cli.ts: the shebang is not "#!/usr/bin/env -S node --flag=value …": ${shebang}`);
  return m[1].trim().split(' ');
}

/** Poll until `probe` gives a value (bench set-up steps; bounded). */
export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, pollMs = 100, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`bench: not ready within ${ms} ms: ${probe.toString()}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** CPU time (user + system) a process has used, ms, from /proc (Linux; clock ticks of 10 ms). */
export function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** CPU time this process has used, ms. */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export interface ServeProcess {
  /** The receiver's base URL. */
  url: string;
  status(): Promise<any>;
  kill(): void;
  /** Stop (SIGSTOP) or continue (SIGCONT) the process: it does nothing while stopped, and its Kafka session survives a stop shorter than the session timeout. */
  pause(): void;
  resume(): void;
  /** CPU time the process has used, ms. */
  cpuMs(): number;
}

/**
 * `chainwatch serve --config FILE` in a process of its own, as deployed, from the built CLI;
 * `config` is the config file's lines (written to `file`). Extra node flags from `nodeArgs`.
 */
export async function startServe(file: string, config: string[], nodeArgs: string[] = []): Promise<ServeProcess> {
  writeFileSync(file, config.join('\n'));
  const child = spawn(process.execPath, [...serviceNodeFlags(), ...nodeArgs, packagePath('dist', 'src', 'cli.js'), 'serve', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const url = await waitFor(() => /"address":"([^"]+)"/.exec(log)?.[1]);
  return { url, status: async () => (await fetch(`${url}/status`)).json(), kill: () => {
    child.kill('SIGTERM');
    child.kill('SIGCONT'); // a stopped process acts on SIGTERM only once continued
  }, pause: () => child.kill('SIGSTOP'), resume: () => child.kill('SIGCONT'), cpuMs: () => cpuMsOf(child.pid!) };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Move everything alive now into V8's old generation, where a running service's engine and
 * state are: an engine restored right before a timed run is young, so the run's first scavenges
 * would copy and promote it (a restore's cost, timed), and its Maps, young, would hide what old
 * ones cost (see `retire` in src/chains.ts). A young object survives one minor GC into the
 * survivor space and is promoted by the next. Needs `node --expose-gc` (the bench scripts pass it).
 */
export function promote(): void {
  const gc = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc;
  if (gc === undefined) throw new Error('this bench needs node --expose-gc (its npm script passes it)');
  gc({ type: 'minor' });
  gc({ type: 'minor' });
}
