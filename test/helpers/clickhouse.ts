/**
 * A real ClickHouse server for one test file (deploy/clickhouse.sh: Debian's clickhouse-server,
 * own config and data dir, 127.0.0.1 only). Each file passes its own port so files can run in
 * parallel; `stop`/`start` let a test take the server away and bring it back on the same data.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../deploy/clickhouse.sh', import.meta.url));

export interface TestClickHouse {
  url: string;
  start(): void;
  stop(): void;
  /** Stop the server and delete its data. */
  destroy(): void;
}

export function clickhouse(port: number): TestClickHouse {
  const env = { ...process.env, CLICKHOUSE_DIR: mkdtempSync(join(tmpdir(), 'chainwatch-clickhouse-')), CLICKHOUSE_PORT: String(port) };
  const run = (cmd: string, timeout: number): void => {
    execFileSync('bash', [script, cmd], { env, stdio: 'pipe', timeout });
  };
  return {
    url: `http://127.0.0.1:${port}`,
    start: () => run('start', 90_000),
    stop: () => run('stop', 30_000),
    destroy: () => {
      run('stop', 30_000);
      rmSync(env.CLICKHOUSE_DIR, { recursive: true, force: true });
    },
  };
}
