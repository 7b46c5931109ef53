/**
 * The worker side of SqliteInsertThread: a connection of its own to the state dir's database,
 * writing the event store's rows as they come, in transactions of CHUNK_ROWS so the main thread's
 * own writes (snapshots, the kill-switch's outbox) wait at most one of them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Table } from './event-store.js';
import { openDatabase } from './sqlite-db.js';
import { insertChunked, sqliteInserts } from './sqlite-store.js';

export type InsertRequest = { id: number; table: Table; rows: object[] } | { id: number; close: true };
export type InsertReply = { id: number; error?: string };

const { dir, file } = workerData as { dir: string; file: string };
const db = openDatabase(dir, file);
const inserts = sqliteInserts(db);
const port = parentPort!;

port.on('message', (m: InsertRequest) => {
  if ('close' in m) {
    db.close();
    port.postMessage({ id: m.id } satisfies InsertReply);
    port.close();
    return;
  }
  insertChunked(inserts[m.table], m.rows, () => undefined).then(
    () => port.postMessage({ id: m.id } satisfies InsertReply),
    (err: Error) => port.postMessage({ id: m.id, error: err.message } satisfies InsertReply),
  );
});
