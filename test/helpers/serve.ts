/** `chainwatch serve` as a child process, the way operators run it; resolves once it logs its address. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const tsx = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

export interface Served { proc: ChildProcess; url: string; metrics?: string; stderr: () => string }

export function serve(config: string, cwd: string, env: NodeJS.ProcessEnv = process.env, children?: ChildProcess[]): Promise<Served> {
  const proc = spawn(process.execPath, ['--import', tsx, cli, 'serve', '--config', config], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env });
  children?.push(proc);
  let err = '';
  proc.stdout!.resume();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 20_000);
    proc.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const line = err.split('\n').find((l) => l.includes('"address"'));
      if (line) {
        clearTimeout(timer);
        const j = JSON.parse(line) as { address: string; metrics?: string };
        resolve({ proc, url: j.address, ...(j.metrics ? { metrics: j.metrics } : {}), stderr: () => err });
      }
    });
    proc.on('exit', (code) => code !== null && reject(new Error(`serve exited ${code}: ${err}`)));
  });
}
