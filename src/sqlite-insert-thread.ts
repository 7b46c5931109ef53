/**
 * The embedded event store's inserts on a worker thread (src/sqlite-insert-worker.ts), with a
 * connection of its own to the same database (WAL: the main thread keeps reading and writing its
 * own tables meanwhile). For the one-process service, whose main thread (receiver and engine) is
 * what limits it: recording every call there cut `npm run bench:serve` by 27–42%; on the worker it
 * takes the other core. Rows are copied to the worker (structured clone, ~5 µs a row across both
 * threads, about half the insert itself), so where total CPU is the limit it is a loss (Service
 * uses it only without Kafka). Batches are written in the order they were sent.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { StoreError } from './errors.js';
import type { Table } from './event-store.js';
import type { InsertReply, InsertRequest } from './sqlite-insert-worker.js';
import type { Inserter } from './sqlite-store.js';

/**
 * The worker: its compiled module when installed; when the tests run from the TypeScript source,
 * a bootstrap that registers tsx in the worker first, then imports the source.
 */
function startWorker(workerData: object): Worker {
  const js = new URL('./sqlite-insert-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData });
  const tsx = new URL('../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url).href;
  const ts = new URL('./sqlite-insert-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); })`, { eval: true, workerData });
}

export class SqliteInsertThread implements Inserter {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private next = 0;
  private failed: Error | undefined;
  private readonly exited: Promise<unknown>;
  /** Held referenced from close() until the worker has exited. */
  private closing = false;

  /** The database `file` in `dir`, as openDatabase opens it (the schema is already migrated by the main thread's connection). */
  constructor(dir: string, file = 'state.db') {
    this.worker = startWorker({ dir, file });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.on('message', (m: InsertReply) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0 && !this.closing) this.worker.unref();
      if (m.error === undefined) w?.resolve();
      else w?.reject(new StoreError(`SQLite insert failed: ${m.error}`, true));
    });
    const fail = (err: Error): void => {
      this.failed = new StoreError(`SQLite insert thread stopped: ${err.message}`, false, { cause: err });
      for (const w of this.waiting.values()) w.reject(this.failed);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    // Idle, it must not keep the process alive; with a request outstanding, it must (the last flush at shutdown).
    this.worker.unref();
  }

  private request(m: Omit<InsertRequest, 'id'>): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.next++;
    if (this.waiting.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...m, id });
    });
  }

  insert(table: Table, rows: object[]): Promise<void> {
    return this.request({ table, rows });
  }

  /** After the inserts sent before it: the worker closes its connection and ends. */
  async close(): Promise<void> {
    if (this.failed) return;
    this.closing = true;
    await this.request({ close: true });
    await this.exited;
  }
}
