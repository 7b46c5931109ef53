/**
 * The embedded store's file: `state.db` in the state dir, one SQLite database in WAL mode (readers
 * never block the writer, a crash loses no committed transaction). Migrations are numbered and
 * applied in order inside one transaction each; `PRAGMA user_version` records the last applied,
 * so an older chainwatch refuses a newer file instead of corrupting it.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { StateError } from './errors.js';
import { ensureDir } from './ensure-dir.js';

export type Db = Database.Database;

/** Exported for tests that build a file as an earlier release left it. */
export const MIGRATIONS: string[] = [
  // 1: engine snapshots, the audit log, and the event store (alerts, chain summaries, calls).
  `CREATE TABLE snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, taken_at INTEGER NOT NULL, watermark INTEGER NOT NULL, body TEXT NOT NULL);
   CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
   CREATE TABLE alerts (
     id TEXT PRIMARY KEY, ts INTEGER NOT NULL, severity TEXT NOT NULL, severity_rank INTEGER NOT NULL, score REAL NOT NULL,
     agent_id TEXT NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL, trace_id TEXT NOT NULL, count INTEGER NOT NULL,
     last_seen INTEGER NOT NULL, body TEXT NOT NULL,
     status TEXT NOT NULL DEFAULT 'open', status_by TEXT, status_note TEXT, status_at INTEGER);
   CREATE INDEX alerts_ts ON alerts (ts DESC, id DESC);
   CREATE INDEX alerts_agent_ts ON alerts (agent_id, ts DESC);
   CREATE TABLE chains (
     trace_id TEXT NOT NULL, agent_id TEXT NOT NULL, start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, calls INTEGER NOT NULL,
     hosts TEXT NOT NULL, actions TEXT NOT NULL, resources INTEGER NOT NULL, principal TEXT NOT NULL, conversation_id TEXT NOT NULL, flagged INTEGER NOT NULL,
     PRIMARY KEY (trace_id, agent_id));
   CREATE INDEX chains_agent_start ON chains (agent_id, start_ts DESC);
   CREATE TABLE calls (
     ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL, agent_id TEXT NOT NULL,
     action TEXT NOT NULL, kind TEXT NOT NULL, tool TEXT NOT NULL, host TEXT NOT NULL, url TEXT NOT NULL, external INTEGER NOT NULL,
     resource TEXT NOT NULL, destinations TEXT NOT NULL, principal TEXT NOT NULL, credential TEXT NOT NULL, ok INTEGER NOT NULL,
     status INTEGER NOT NULL, retries INTEGER NOT NULL, sensitive INTEGER NOT NULL, bytes_out INTEGER NOT NULL,
     PRIMARY KEY (trace_id, span_id));
   CREATE INDEX calls_agent_ts ON calls (agent_id, ts);`,
  // 2: the kill-switch: revocations (one per decision), their deliveries (the outbox, one row per
  // channel and message, id = idempotency key), and the credentials whose revocation was acknowledged.
  `CREATE TABLE revocations (
     id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, kind TEXT NOT NULL, credential TEXT NOT NULL, agent_id TEXT NOT NULL, alert_id TEXT NOT NULL,
     mode TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, alert TEXT NOT NULL);
   CREATE INDEX revocations_credential ON revocations (credential, created_at);
   CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, revocation_id TEXT NOT NULL, channel TEXT NOT NULL, credential TEXT NOT NULL,
     status TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
     delivered_at INTEGER, last_error TEXT);
   CREATE INDEX outbox_due ON outbox (status, next_at);
   CREATE INDEX outbox_order ON outbox (credential, channel, seq);
   CREATE TABLE revoked (credential TEXT PRIMARY KEY, revocation_id TEXT NOT NULL, at INTEGER NOT NULL);`,
  // 3: calls by agent and time was read by nothing, and cost more than the table itself on insert
  // (each 1,000-row transaction touched about one page per agent); retention deletes calls and
  // chains by time, which scanned both tables whole. Time indexes grow at their end.
  `DROP INDEX calls_agent_ts;
   CREATE INDEX calls_ts ON calls (ts);
   CREATE INDEX chains_start ON chains (start_ts);`,
  // 4: calls were keyed by (trace_id, span_id), whose keys arrive in random order: each row landed
  // on a page of its own, which every transaction then wrote to the WAL again (16.8–21.8 µs of CPU
  // a row on this machine, against 8.3–11.1 µs now). A call is now unique by (ts, span_id,
  // trace_id), an index that grows at its end and also serves retention; an alert's calls are
  // found by its agent and its chain's start (calls_agent_ts), as ClickHouse finds them.
  `CREATE TABLE calls_v4 (
     ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL, agent_id TEXT NOT NULL,
     action TEXT NOT NULL, kind TEXT NOT NULL, tool TEXT NOT NULL, host TEXT NOT NULL, url TEXT NOT NULL, external INTEGER NOT NULL,
     resource TEXT NOT NULL, destinations TEXT NOT NULL, principal TEXT NOT NULL, credential TEXT NOT NULL, ok INTEGER NOT NULL,
     status INTEGER NOT NULL, retries INTEGER NOT NULL, sensitive INTEGER NOT NULL, bytes_out INTEGER NOT NULL,
     UNIQUE (ts, span_id, trace_id));
   INSERT OR IGNORE INTO calls_v4 SELECT ts, end_ts, trace_id, span_id, agent_id, action, kind, tool, host, url, external, resource,
     destinations, principal, credential, ok, status, retries, sensitive, bytes_out FROM calls ORDER BY ts;
   DROP TABLE calls;
   ALTER TABLE calls_v4 RENAME TO calls;
   CREATE INDEX calls_agent_ts ON calls (agent_id, ts);`,
  // 5: chains were keyed by (trace_id, agent_id), random like calls before 4: 21–22 µs of CPU a
  // chain row on this machine, against 11–12 µs now. A chain is unique by (start_ts, trace_id,
  // agent_id), which also serves retention (chains_start goes); a reopened trace whose start moved
  // earlier replaces its earlier row by that row's key (src/sqlite-store.ts).
  `CREATE TABLE chains_v5 (
     trace_id TEXT NOT NULL, agent_id TEXT NOT NULL, start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, calls INTEGER NOT NULL,
     hosts TEXT NOT NULL, actions TEXT NOT NULL, resources INTEGER NOT NULL, principal TEXT NOT NULL, conversation_id TEXT NOT NULL, flagged INTEGER NOT NULL,
     UNIQUE (start_ts, trace_id, agent_id));
   INSERT OR IGNORE INTO chains_v5 SELECT trace_id, agent_id, start_ts, end_ts, calls, hosts, actions, resources, principal, conversation_id, flagged
     FROM chains ORDER BY start_ts;
   DROP TABLE chains;
   ALTER TABLE chains_v5 RENAME TO chains;
   CREATE INDEX chains_agent_start ON chains (agent_id, start_ts DESC);`,
  // 6: calls were a row each, with two indexes; the one by agent took each agent's rows to a page
  // of its own, which every transaction wrote to the WAL again (8–11 µs of CPU a call on this
  // machine). An agent's calls of a batch are now one block: a JSON array of call tuples (fields in
  // CALL_FIELDS order of src/sqlite-store.ts, agent_id left out), found by agent and last call time,
  // expired by last call time. The view \`calls\` reads them as rows again. Existing calls move into
  // blocks as the store cuts them: an agent's calls of one hour, 500 at most to a block.
  `CREATE TABLE call_blocks (
     agent_id TEXT NOT NULL, first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL, calls INTEGER NOT NULL, body TEXT NOT NULL);
   INSERT INTO call_blocks (agent_id, first_ts, last_ts, calls, body)
     SELECT agent_id, MIN(ts), MAX(ts), COUNT(*), json_group_array(json_array(ts, end_ts, trace_id, span_id, action, kind, tool, host, url,
       external, resource, json(destinations), principal, credential, ok, status, retries, sensitive, bytes_out))
     FROM (SELECT *, ts / 3600000 AS hour, (ROW_NUMBER() OVER (PARTITION BY agent_id, ts / 3600000 ORDER BY ts, span_id) - 1) / 500 AS part FROM calls)
     GROUP BY agent_id, hour, part;
   DROP TABLE calls;
   CREATE INDEX call_blocks_agent ON call_blocks (agent_id, last_ts);
   CREATE INDEX call_blocks_last ON call_blocks (last_ts);
   CREATE VIEW calls AS SELECT
     json_extract(c.value, '$[0]') AS ts, json_extract(c.value, '$[1]') AS end_ts, json_extract(c.value, '$[2]') AS trace_id,
     json_extract(c.value, '$[3]') AS span_id, b.agent_id AS agent_id, json_extract(c.value, '$[4]') AS action,
     json_extract(c.value, '$[5]') AS kind, json_extract(c.value, '$[6]') AS tool, json_extract(c.value, '$[7]') AS host,
     json_extract(c.value, '$[8]') AS url, json_extract(c.value, '$[9]') AS external, json_extract(c.value, '$[10]') AS resource,
     json(json_extract(c.value, '$[11]')) AS destinations, json_extract(c.value, '$[12]') AS principal,
     json_extract(c.value, '$[13]') AS credential, json_extract(c.value, '$[14]') AS ok, json_extract(c.value, '$[15]') AS status,
     json_extract(c.value, '$[16]') AS retries, json_extract(c.value, '$[17]') AS sensitive, json_extract(c.value, '$[18]') AS bytes_out
   FROM call_blocks b, json_each(b.body) c;`,
  // 7: engine state by agent: a snapshot writes the agents changed since the last one (and
  // deletes those dropped), not the whole fleet as one string — which passed V8's longest string
  // at ~45,000 agents and held the event loop for seconds. Peer groups, credential owners,
  // aliases, quarantined chains and the watermark are a row each in shared_state. The snapshots
  // table stays for reading state an earlier release left.
  `CREATE TABLE agent_state (id TEXT PRIMARY KEY, body TEXT NOT NULL);
   CREATE TABLE shared_state (key TEXT PRIMARY KEY, body TEXT NOT NULL);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Open (creating if needed) the state dir's database and bring its schema up to date. */
/** The state directory, created if need be; a StateError that says what to give instead when it cannot be. */
export function makeStateDir(dir: string): string {
  try {
    ensureDir(dir);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'it, or a directory above it, is a file' : (err as Error).message;
    throw new StateError(`cannot use ${dir} as the state directory: ${why}; give --state (or state_dir) a directory chainwatch may create and write`, { cause: err });
  }
  return dir;
}

export function openDatabase(dir: string, file = 'state.db'): Db {
  makeStateDir(dir);
  const path = join(dir, file);
  let db: Db;
  try {
    db = new Database(path);
  } catch (err) {
    throw new StateError(`cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  db.pragma('journal_mode = WAL');
  // NORMAL is durable across process crashes in WAL mode; only a power loss can drop the last commit.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // Checkpoint (copy the WAL back and sync the file) every ~40 MB of WAL, not every ~4 MB: calls
  // and chains were keyed by random trace ids until schemas 4 and 5, and their agent indexes still
  // take each agent's rows to a page of its own, so a transaction rewrites many index pages; the
  // default made that a checkpoint and a sync per transaction or two.
  db.pragma('wal_autocheckpoint = 10000');
  const at = db.pragma('user_version', { simple: true }) as number;
  if (at > SCHEMA_VERSION) {
    db.close();
    throw new StateError(`${path} has schema version ${at}, newer than this chainwatch (${SCHEMA_VERSION}): upgrade chainwatch or move the file away`);
  }
  for (let v = at; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

/** Record who did what to which object, and why. */
export function audit(db: Db, at: number, actor: string, action: string, target: string, detail = ''): void {
  db.prepare('INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)').run(at, actor, action, target, detail);
}
