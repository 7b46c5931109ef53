# Shared by the service scripts (sourced): a process tracked by a pid file.

# Exit 0 when the pid file names a live process.
pid_running() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# SIGTERM, then SIGKILL after 20 s; removes the pid file.
pid_stop() {
  local file="$1" pid
  pid_running "$file" || { rm -f "$file"; return 0; }
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}
