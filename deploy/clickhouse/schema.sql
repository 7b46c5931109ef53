-- chainwatch event store on ClickHouse. Applied by chainwatch at start (src/clickhouse-store.ts),
-- which fills the {{...}} slots for the server's release:
--   {{db}}        the database (clickhouse.database, default chainwatch)
--   {{lc}}        LowCardinality(String) on 20.8+, String on older releases (Debian's 18.16)
--   {{time:col}}  on 20.8+ a DateTime64(3) ALIAS of the epoch-ms column, for people writing SQL by hand
--   {{ttl:table}} on 20.8+ a TTL of the table's retention; older releases rely on partition drops,
--                 which chainwatch also runs on every release (retention.* in the config)
-- Times are epoch milliseconds (UInt64) so queries read the same on every release. Tables are
-- ReplacingMergeTree keyed by the natural id, so a batch retried after an ambiguous failure
-- (spill replay) never counts twice in queries that read with FINAL.
-- Statements are separated by a line holding only ";".

CREATE DATABASE IF NOT EXISTS {{db}}
;
CREATE TABLE IF NOT EXISTS {{db}}.calls (
  ts UInt64, end_ts UInt64, trace_id String, span_id String, agent_id {{lc}},
  action {{lc}}, kind {{lc}}, tool {{lc}}, host {{lc}}, url String, external UInt8, resource String,
  destinations Array(String), principal String, credential String,
  ok UInt8, status UInt16, retries UInt16, sensitive UInt8, bytes_out UInt64,
  day Date MATERIALIZED toDate(toDateTime(intDiv(ts, 1000))){{time:ts}}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(day)
ORDER BY (agent_id, trace_id, span_id){{ttl:calls}}
;
CREATE TABLE IF NOT EXISTS {{db}}.chains (
  trace_id String, agent_id {{lc}}, start_ts UInt64, end_ts UInt64, calls UInt32,
  hosts Array(String), actions Array(String), resources UInt32, principal String, conversation_id String, flagged UInt8,
  day Date MATERIALIZED toDate(toDateTime(intDiv(start_ts, 1000))){{time:start_ts}}
) ENGINE = ReplacingMergeTree(end_ts)
PARTITION BY toYYYYMMDD(day)
ORDER BY (agent_id, trace_id){{ttl:chains}}
;
CREATE TABLE IF NOT EXISTS {{db}}.alerts (
  id String, ts UInt64, severity {{lc}}, severity_rank UInt8, score Float64, agent_id {{lc}}, kind {{lc}},
  title String, trace_id String, count UInt32, last_seen UInt64, body String,
  day Date MATERIALIZED toDate(toDateTime(intDiv(ts, 1000))){{time:ts}}
) ENGINE = ReplacingMergeTree(count)
PARTITION BY toYYYYMMDD(day)
ORDER BY (agent_id, ts, id){{ttl:alerts}}
;
CREATE TABLE IF NOT EXISTS {{db}}.alert_status (
  alert_id String, status {{lc}}, by String, note String, at UInt64
) ENGINE = ReplacingMergeTree(at)
ORDER BY alert_id
