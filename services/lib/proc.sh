# Process helpers shared by the service scripts (Kafka broker, Pub/Sub
# emulator, Flink cluster, expansion service). Sourced, not run:
#
#   source "$HERE/../lib/proc.sh"             # from services/<name>/
#   source "$HERE/../../services/lib/proc.sh" # from runners/<name>/
#
# A service is a background process with a pid file; it listens on loopback.

# proc_alive PIDFILE [CMDLINE_PATTERN]
# True if the pid file names a live process, and (given a pattern) that
# process's command line contains it: a guard against a reused pid.
proc_alive() {
  local pidfile="$1" pattern="${2:-}" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ -z "$pattern" ]] || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# port_open PORT: something accepts connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# proc_wait_ready PID TIMEOUT_S CHECK...
# Runs the command CHECK every 0.2 s until it succeeds (returns 0). Returns 1
# if the process PID ended first (its exit status, when it is a child of this
# shell, in PROC_EXIT_STATUS), 2 after TIMEOUT_S seconds.
# Liveness is `kill -0`, not proc_alive's command-line check: right after the
# fork the child's command line is still this script's (or setsid's).
proc_wait_ready() {
  local pid="$1" timeout="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  PROC_EXIT_STATUS=""
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      PROC_EXIT_STATUS=0
      wait "$pid" 2>/dev/null || PROC_EXIT_STATUS=$?
      return 1
    fi
    (( SECONDS < deadline )) || return 2
    sleep 0.2
  done
}

# proc_stop PIDFILE GRACE_S LABEL [CMDLINE_PATTERN]
# SIGTERM, up to GRACE_S seconds for a clean exit, then SIGKILL; removes the
# pid file. A pid file whose process is gone (or is another program) is just
# removed. Says what it did on stderr, prefixed with LABEL.
proc_stop() {
  local pidfile="$1" grace="$2" label="$3" pattern="${4:-}" pid i
  if ! proc_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    echo "$label: not running" >&2
    return 0
  fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$label: pid $pid still running after ${grace}s; SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
  echo "$label: stopped (pid $pid)" >&2
}

# proc_spawn PIDFILE OUTFILE CMD...
# Starts CMD in the background in a session of its own (setsid nohup; stdin
# from /dev/null, stdout and stderr to OUTFILE); writes its pid to PIDFILE
# and to PROC_PID.
proc_spawn() {
  local pidfile="$1" out="$2"
  shift 2
  setsid nohup "$@" >"$out" 2>&1 </dev/null &
  PROC_PID=$!
  echo "$PROC_PID" >"$pidfile"
}
