#!/usr/bin/env bash
# A real rsyslog (Debian's package) as a syslog receiver for tests of the syslog alert sink.
#   deploy/rsyslog.sh install                 apt-get install rsyslog (root; once)
#   deploy/rsyslog.sh start DIR PORT          listen on 127.0.0.1:PORT (TCP, octet counting or LF
#                                             framing), write each message's MSG to DIR/messages
#   deploy/rsyslog.sh stop DIR
set -euo pipefail

install() {
  if command -v rsyslogd >/dev/null 2>&1; then return 0; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends rsyslog >/dev/null
}

start() {
  local dir="$1" port="$2"
  mkdir -p "$dir/work"
  cat > "$dir/rsyslog.conf" <<CONF
global(workDirectory="$dir/work")
module(load="imtcp")
input(type="imtcp" port="$port" address="127.0.0.1")
template(name="msgonly" type="string" string="%msg%\n")
*.* action(type="omfile" file="$dir/messages" template="msgonly")
CONF
  rsyslogd -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid"
  for _ in $(seq 1 50); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then echo "rsyslog listening on 127.0.0.1:$port"; return 0; fi
    sleep 0.1
  done
  echo "rsyslog did not start; see $dir" >&2
  return 1
}

stop() {
  local dir="$1"
  [ -f "$dir/rsyslog.pid" ] && kill "$(cat "$dir/rsyslog.pid")" 2>/dev/null || true
  rm -f "$dir/rsyslog.pid"
}

case "${1:-}" in
  install) install ;;
  start) start "$2" "$3" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 install | start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
