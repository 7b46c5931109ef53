#!/usr/bin/env bash
# A real ClickHouse server (Debian's clickhouse-server package) for development and tests.
#   deploy/clickhouse.sh install  apt-get install clickhouse-server clickhouse-client (root; once)
#   deploy/clickhouse.sh start    start on 127.0.0.1 with its own config and data dir, wait until it serves
#   deploy/clickhouse.sh stop     stop it (SIGTERM, then SIGKILL after 20 s)
#   deploy/clickhouse.sh status   exit 0 when it is running
# Environment: CLICKHOUSE_DIR (data, logs, pid; default /tmp/chainwatch-clickhouse),
# CLICKHOUSE_PORT (HTTP; default 8123; the native port is HTTP port + 877, so 9000 by default).
# The server is the distribution's release (18.16 on Debian 12); our DDL and queries work there
# and on current releases (see src/clickhouse-dialect.ts).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/pidfile.sh
. "$here/pidfile.sh"
dir="${CLICKHOUSE_DIR:-/tmp/chainwatch-clickhouse}"
port="${CLICKHOUSE_PORT:-8123}"
tcp=$((port + 877))
server=/usr/sbin/clickhouse-server

install() {
  if [ -x "$server" ]; then return 0; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package's postinst tries to start the system service; policy-rc.d denies it in containers,
  # which is fine: we never use the system service, only our own instance below.
  apt-get install -y -qq --no-install-recommends clickhouse-server clickhouse-client >/dev/null
}

running() {
  pid_running "$dir/clickhouse.pid"
}

start() {
  install
  if running; then echo "clickhouse already running (pid $(cat "$dir/clickhouse.pid"))"; return 0; fi
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log"
  cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>50M</size><count>2</count></logger>
  <http_port>$port</http_port>
  <tcp_port>$tcp</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
XML
  cat > "$dir/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage><log_queries>0</log_queries></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  nohup "$server" --config-file="$dir/config.xml" --pid-file="$dir/clickhouse.pid" > "$dir/log/stdout.log" 2>&1 &
  local launcher=$!
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/ping" >/dev/null 2>&1; then
      [ -f "$dir/clickhouse.pid" ] || echo "$launcher" > "$dir/clickhouse.pid"
      echo "clickhouse $(curl -fsS "http://127.0.0.1:$port/?query=SELECT%20version()") serving on 127.0.0.1:$port (pid $(cat "$dir/clickhouse.pid"), data $dir)"
      return 0
    fi
    if ! kill -0 "$launcher" 2>/dev/null; then echo "clickhouse exited during start; see $dir/log" >&2; tail -20 "$dir/log/stdout.log" "$dir/log/server.err.log" >&2 2>/dev/null || true; return 1; fi
    sleep 0.5
  done
  echo "clickhouse did not start within 60 s; see $dir/log" >&2
  kill "$launcher" 2>/dev/null || true
  return 1
}

stop() {
  pid_stop "$dir/clickhouse.pid"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) running ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
