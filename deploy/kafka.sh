#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, no ZooKeeper) for development and tests.
#   deploy/kafka.sh fetch   broker jars and dependencies via mvn (deploy/kafka/pom.xml) into the cache
#   deploy/kafka.sh start   format the KRaft store, start on 127.0.0.1:9092, wait until it serves
#   deploy/kafka.sh stop    stop it (SIGTERM, then SIGKILL after 20 s)
#   deploy/kafka.sh resume  start it again on the data it had when stopped (a broker restart)
#   deploy/kafka.sh status  exit 0 when it is running
# Environment: CHAINWATCH_CACHE (default ~/.cache/chainwatch), KAFKA_DIR (data, logs, pid;
# default /tmp/chainwatch-kafka), KAFKA_PORT (default 9092). KAFKA_SECURE=1 adds a SASL_SSL
# listener on KAFKA_PORT+2, as managed Kafka services have: a certificate from a CA made for it
# ($KAFKA_DIR/tls/ca.pem, for clients to trust), SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN, user
# chainwatch with password chainwatch-secret (a test broker's, not a secret).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=deploy/pidfile.sh
. "$here/pidfile.sh"
version=3.9.1
cache="${CHAINWATCH_CACHE:-$HOME/.cache/chainwatch}/kafka-$version"
dir="${KAFKA_DIR:-/tmp/chainwatch-kafka}"
port="${KAFKA_PORT:-9092}"
cport=$((port + 1))
sport=$((port + 2))
secure="${KAFKA_SECURE:-}"

fetch() {
  if [ -f "$cache/.complete" ]; then return 0; fi
  mkdir -p "$cache"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$cache/lib" -DincludeScope=runtime
  touch "$cache/.complete"
}

running() {
  pid_running "$dir/kafka.pid"
}

start() {
  fetch
  if running; then echo "kafka already running (pid $(cat "$dir/kafka.pid"))"; return 0; fi
  rm -rf "$dir" && mkdir -p "$dir/data"
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [ -n "$secure" ]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$sport"
    advertised="$advertised,SASL_SSL://127.0.0.1:$sport"
    protocols="$protocols,SASL_SSL:SASL_SSL"
    tls_files
  fi
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=4
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  if [ -n "$secure" ]; then
    cat >> "$dir/server.properties" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_chainwatch="chainwatch-secret";
ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/broker.pem
PROPS
  fi
  cat > "$dir/log4j.properties" <<'LOG'
log4j.rootLogger=WARN, file
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
LOG
  local cp="$cache/lib/*"
  local id
  id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  local scram=()
  if [ -n "$secure" ]; then
    scram=(--add-scram 'SCRAM-SHA-256=[name=chainwatch,password=chainwatch-secret]' --add-scram 'SCRAM-SHA-512=[name=chainwatch,password=chainwatch-secret]')
  fi
  java -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" "${scram[@]}" > "$dir/format.log" 2>&1
  launch
}

# A CA and the broker's certificate for 127.0.0.1 and localhost, signed by it; the broker's PEM
# keystore holds its key (PKCS#8, unencrypted) and certificate.
tls_files() {
  local t="$dir/tls"
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/ca.key" -out "$t/ca.pem" -days 7 -subj "/CN=chainwatch test Kafka CA" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$t/broker.ext"
  openssl req -newkey rsa:2048 -nodes -keyout "$t/broker.key" -out "$t/broker.csr" -subj "/CN=localhost" 2>/dev/null
  openssl x509 -req -in "$t/broker.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial -out "$t/broker.crt" -days 7 -extfile "$t/broker.ext" 2>/dev/null
  cat "$t/broker.key" "$t/broker.crt" > "$t/broker.pem"
}

# Start a broker on the formatted store in $dir, and wait until it serves.
launch() {
  local cp="$cache/lib/*"
  # The wait below looks for the start line: a resumed broker's log holds the previous one.
  : > "$dir/server.log"
  # The JVM options Kafka's own start scripts (kafka-server-start.sh, kafka-run-class.sh) give a
  # broker: a 1 GB heap, G1 with a 20 ms pause goal. The heap is what counts: with the 512 MB this
  # script gave it before, the broker collected about three times a second and spent twice the CPU
  # under `npm run bench:kafka` (1.3–1.6 s a run against 0.6–0.8 s; docs/benchmarks.md).
  # One flag more, for a broker that lives minutes (tests, benches) rather than months: the JIT's
  # first tier only. The C2 compiler was still busy in the bench's timed run after its warm-up
  # (0.3 of 0.75 CPU-s, by thread), while the broker spends little time in its own Java code; with
  # C1 alone the broker used 0.47–0.58 CPU-s a run (its request threads no slower).
  # KAFKA_JAVA_OPTS: more JVM flags (e.g. a profiler, or -XX:TieredStopAtLevel=4 for C2); word-split on purpose.
  # shellcheck disable=SC2086
  nohup java -Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:TieredStopAtLevel=1 -Djava.awt.headless=true ${KAFKA_JAVA_OPTS:-} -Dkafka.logs.dir="$dir" -Dlog4j.configuration="file:$dir/log4j.properties" \
    -cp "$cp" kafka.Kafka "$dir/server.properties" > "$dir/stdout.log" 2>&1 &
  echo $! > "$dir/kafka.pid"
  for _ in $(seq 1 120); do
    if grep -q "Kafka Server started\|\[KafkaRaftServer nodeId=1\] Kafka Server started" "$dir/server.log" 2>/dev/null; then
      echo "kafka $version serving on 127.0.0.1:$port${secure:+ and SASL_SSL on 127.0.0.1:$sport} (pid $(cat "$dir/kafka.pid"), data $dir)"
      return 0
    fi
    if ! running; then echo "kafka exited during start; see $dir/stdout.log and $dir/server.log" >&2; tail -20 "$dir/stdout.log" >&2; return 1; fi
    sleep 0.5
  done
  echo "kafka did not start within 60 s; see $dir/server.log" >&2
  stop
  return 1
}

stop() {
  pid_stop "$dir/kafka.pid"
}

resume() {
  if running; then echo "kafka already running (pid $(cat "$dir/kafka.pid"))"; return 0; fi
  if [ ! -f "$dir/server.properties" ]; then echo "no stopped broker in $dir to resume: use start" >&2; return 1; fi
  launch
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  resume) resume ;;
  status) running ;;
  *) echo "usage: $0 fetch|start|stop|resume|status" >&2; exit 2 ;;
esac
