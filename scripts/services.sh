#!/usr/bin/env bash
# Test servers for the real-engine tests, on loopback only.
#
#   scripts/services.sh start               start everything (stops a previous run first)
#   scripts/services.sh stop                stop everything and delete the data
#   scripts/services.sh status              show what runs; exit 1 if anything is down
#   scripts/services.sh etcd-start NAME     (re)start one etcd member, e.g. after a test killed it
#   scripts/services.sh restart redis|pg-primary
#                                           stop one server cleanly and start it again on the same
#                                           port and data (the server-restart tests of durable stores)
#   scripts/services.sh down redis          kill Redis with SIGKILL, as a crash would (the fleet tests' outage)
#   scripts/services.sh up redis            start it again on the same port and data
#
# What `start` runs, in a fresh directory under .test-services/ (git-ignored):
#   - a 3-member etcd cluster (etcd-0, etcd-1, etcd-2), quorum 2 of 3, with short
#     heartbeat/election timings (50 ms / 500 ms) so tests that kill a member are fast;
#   - PostgreSQL: a primary and a streaming-replication standby (initdb, pg_basebackup -R),
#     trust authentication on 127.0.0.1 only, no unix sockets. The standby connects with
#     application_name=standby1, so a test can turn on synchronous replication with
#     ALTER SYSTEM SET synchronous_standby_names = 'standby1'; SELECT pg_reload_conf();
#     PostgreSQL refuses to run as root: when uid is 0 it runs as the `postgres` user.
#   - Redis (redis-server) with AOF persistence on (appendonly yes, appendfsync everysec), no RDB
#     snapshots, on 127.0.0.1 only.
# Ports are chosen free at random; each server is waited for until it is ready.
#
# It then writes .test-services/env (source it) with:
#   RESILIENCE_ETCD_ENDPOINTS     comma-separated client URLs of the three members
#   RESILIENCE_ETCD_MEMBERS       ';'-separated members, each `name,pid,client_url,peer_url,data_dir`
#   RESILIENCE_PG_PRIMARY         libpq connection string of the primary
#   RESILIENCE_PG_STANDBY         libpq connection string of the standby
#   RESILIENCE_PG_PRIMARY_PORT / RESILIENCE_PG_STANDBY_PORT
#   RESILIENCE_PG_PRIMARY_DATA / RESILIENCE_PG_STANDBY_DATA   data directories
#   RESILIENCE_PG_BIN             directory of pg_ctl, psql, ...
#   RESILIENCE_PG_RUN_AS          prefix to run PostgreSQL tools as their owner ("" or "runuser -u postgres --")
#   RESILIENCE_PG_STANDBY_APP_NAME  standby1
#   RESILIENCE_REDIS_URL          redis://127.0.0.1:PORT/ of the Redis server
#   RESILIENCE_REDIS_PORT / RESILIENCE_REDIS_DATA   its port and data directory (the AOF is there)
#   RESILIENCE_SERVICES_SCRIPT    this script's absolute path (for `etcd-start`, `restart`)
#   RESILIENCE_SERVICES_ENV       this env file's path (re-read it for current pids: `etcd-start` rewrites it)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
base="$root/.test-services"
state="$base/state"
envfile="$base/env"
script="$root/scripts/services.sh"

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- helpers

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

used_ports=" "
free_port() {
  local p tries=0
  while :; do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    tries=$((tries + 1))
    [ "$tries" -gt 500 ] && die "no free port found on 127.0.0.1"
    case "$used_ports" in *" $p "*) continue ;; esac
    port_in_use "$p" && continue
    used_ports="$used_ports$p "
    echo "$p"
    return
  done
}

http_get() { # port path -> body (HTTP/1.0 over bash's /dev/tcp, no curl needed)
  local port=$1 path=$2
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
    timeout 2 cat <&3
  ) 2>/dev/null
}

wait_until() { # seconds description command...
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
  log "$what is ready"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

find_pg_bin() {
  local d
  if [ -n "${RESILIENCE_PG_BIN:-}" ] && [ -x "$RESILIENCE_PG_BIN/initdb" ]; then echo "$RESILIENCE_PG_BIN"; return; fi
  for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
  return 1
}

# Run a PostgreSQL tool as the owner of the data (postgres when we are root).
pg_run_as=()
as_pg() { "${pg_run_as[@]}" "$@"; }

# ---------------------------------------------------------------- state

write_state() {
  {
    declare -p run_dir etcd_names etcd_pids etcd_client_ports etcd_peer_ports etcd_data etcd_cluster
    declare -p pg_bin pg_primary_port pg_standby_port pg_primary_data pg_standby_data pg_run_as_str
    declare -p redis_port redis_pid redis_data
  } | sed -e 's/^declare -- /declare -g /' -e 's/^declare -\([a-zA-Z]*\) /declare -g\1 /' > "$state"
}

write_env() {
  local endpoints="" members="" i
  for i in 0 1 2; do
    endpoints+="${endpoints:+,}http://127.0.0.1:${etcd_client_ports[$i]}"
    members+="${members:+;}${etcd_names[$i]},${etcd_pids[$i]},http://127.0.0.1:${etcd_client_ports[$i]},http://127.0.0.1:${etcd_peer_ports[$i]},${etcd_data[$i]}"
  done
  cat > "$envfile.tmp" <<EOF
# Written by scripts/services.sh start; source it. Loopback-only test servers.
export RESILIENCE_SERVICES_DIR='$run_dir'
export RESILIENCE_SERVICES_SCRIPT='$script'
export RESILIENCE_SERVICES_ENV='$envfile'
export RESILIENCE_ETCD_ENDPOINTS='$endpoints'
export RESILIENCE_ETCD_MEMBERS='$members'
export RESILIENCE_PG_PRIMARY='host=127.0.0.1 port=$pg_primary_port user=postgres dbname=postgres connect_timeout=5'
export RESILIENCE_PG_STANDBY='host=127.0.0.1 port=$pg_standby_port user=postgres dbname=postgres connect_timeout=5'
export RESILIENCE_PG_PRIMARY_PORT='$pg_primary_port'
export RESILIENCE_PG_STANDBY_PORT='$pg_standby_port'
export RESILIENCE_PG_PRIMARY_DATA='$pg_primary_data'
export RESILIENCE_PG_STANDBY_DATA='$pg_standby_data'
export RESILIENCE_PG_BIN='$pg_bin'
export RESILIENCE_PG_RUN_AS='$pg_run_as_str'
export RESILIENCE_PG_STANDBY_APP_NAME='standby1'
export RESILIENCE_REDIS_URL='redis://127.0.0.1:$redis_port/'
export RESILIENCE_REDIS_PORT='$redis_port'
export RESILIENCE_REDIS_DATA='$redis_data'
EOF
  mv "$envfile.tmp" "$envfile"
}

# ---------------------------------------------------------------- etcd

etcd_healthy() { http_get "$1" /health | grep -q '"health":"true"'; }

start_etcd_member() { # index state(new|existing)
  local i=$1 cluster_state=$2
  local name=${etcd_names[$i]} cport=${etcd_client_ports[$i]} pport=${etcd_peer_ports[$i]}
  etcd --name "$name" --data-dir "${etcd_data[$i]}" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$etcd_cluster" --initial-cluster-state "$cluster_state" \
    --initial-cluster-token "resilience-test-$$" \
    --heartbeat-interval 50 --election-timeout 500 \
    >>"$run_dir/$name.log" 2>&1 </dev/null &
  etcd_pids[$i]=$!
}

start_etcd() {
  command -v etcd >/dev/null 2>&1 || die "etcd not found: install Debian's etcd-server package (apt-get install etcd-server)"
  etcd_names=(etcd-0 etcd-1 etcd-2)
  etcd_pids=()
  etcd_client_ports=()
  etcd_peer_ports=()
  etcd_data=()
  etcd_cluster=""
  local i
  for i in 0 1 2; do
    etcd_client_ports[$i]=$(free_port)
    etcd_peer_ports[$i]=$(free_port)
    etcd_data[$i]="$run_dir/${etcd_names[$i]}"
    etcd_cluster+="${etcd_cluster:+,}${etcd_names[$i]}=http://127.0.0.1:${etcd_peer_ports[$i]}"
  done
  for i in 0 1 2; do start_etcd_member "$i" new; done
  for i in 0 1 2; do
    if ! wait_until 30 "etcd member ${etcd_names[$i]} (127.0.0.1:${etcd_client_ports[$i]})" etcd_healthy "${etcd_client_ports[$i]}"; then
      tail -n 30 "$run_dir/${etcd_names[$i]}.log" >&2 || true
      die "etcd member ${etcd_names[$i]} did not become healthy"
    fi
  done
}

# ---------------------------------------------------------------- PostgreSQL

pg_ready() { as_pg "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$1" -t 1; }

pg_conf() { # data_dir port
  cat >> "$1/postgresql.conf" <<EOF

# --- resilience test server (scripts/services.sh) ---
listen_addresses = '127.0.0.1'
port = $2
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_keep_size = '256MB'
fsync = off
full_page_writes = on
shared_buffers = '32MB'
max_connections = 60
logging_collector = off
EOF
}

start_pg() {
  pg_bin=$(find_pg_bin) || die "PostgreSQL not found: install Debian's postgresql package (apt-get install postgresql)"
  pg_run_as_str=""
  pg_run_as=()
  local pg_root="$run_dir/pg"
  mkdir -p "$pg_root"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as"
    pg_run_as=(runuser -u postgres --)
    pg_run_as_str="runuser -u postgres --"
    chown postgres: "$pg_root"
    # The postgres user must be able to reach its directories.
    if ! runuser -u postgres -- test -w "$pg_root"; then
      pg_root=$(mktemp -d /tmp/resilience-pg.XXXXXX)
      chown postgres: "$pg_root"
      log "the repository is not reachable by the postgres user; PostgreSQL data goes to $pg_root"
      echo "$pg_root" > "$run_dir/pg-root-outside"
    fi
  fi
  pg_primary_port=$(free_port)
  pg_standby_port=$(free_port)
  pg_primary_data="$pg_root/primary"
  pg_standby_data="$pg_root/standby"

  as_pg "$pg_bin/initdb" -D "$pg_primary_data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$run_dir/initdb.log" 2>&1 \
    || as_pg "$pg_bin/initdb" -D "$pg_primary_data" -U postgres --auth=trust -E UTF8 --no-locale >"$run_dir/initdb.log" 2>&1 \
    || { tail -n 30 "$run_dir/initdb.log" >&2; die "initdb failed"; }
  pg_conf "$pg_primary_data" "$pg_primary_port"
  cat > "$pg_primary_data/pg_hba.conf" <<EOF
# loopback only, trust: throw-away test servers
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
EOF
  as_pg "$pg_bin/pg_ctl" -D "$pg_primary_data" -l "$pg_root/primary.log" -w -t 60 start >/dev/null \
    || { tail -n 30 "$pg_root/primary.log" >&2; die "the PostgreSQL primary did not start"; }
  wait_until 60 "PostgreSQL primary (127.0.0.1:$pg_primary_port)" pg_ready "$pg_primary_port" \
    || die "the PostgreSQL primary is not accepting connections"

  as_pg "$pg_bin/pg_basebackup" -h 127.0.0.1 -p "$pg_primary_port" -U postgres -D "$pg_standby_data" -X stream -R \
    >"$run_dir/basebackup.log" 2>&1 || { tail -n 30 "$run_dir/basebackup.log" >&2; die "pg_basebackup failed"; }
  # Own port, and a name the primary can list in synchronous_standby_names.
  as_pg sh -c "cat >> '$pg_standby_data/postgresql.conf'" <<EOF
port = $pg_standby_port
EOF
  as_pg sh -c "cat >> '$pg_standby_data/postgresql.auto.conf'" <<EOF
primary_conninfo = 'host=127.0.0.1 port=$pg_primary_port user=postgres application_name=standby1'
EOF
  as_pg "$pg_bin/pg_ctl" -D "$pg_standby_data" -l "$pg_root/standby.log" -w -t 60 start >/dev/null \
    || { tail -n 30 "$pg_root/standby.log" >&2; die "the PostgreSQL standby did not start"; }
  wait_until 60 "PostgreSQL standby (127.0.0.1:$pg_standby_port)" pg_ready "$pg_standby_port" \
    || die "the PostgreSQL standby is not accepting connections"
  local streaming=""
  local deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    streaming=$(as_pg "$pg_bin/psql" -h 127.0.0.1 -p "$pg_primary_port" -U postgres -d postgres -Atc \
      "select count(*) from pg_stat_replication where application_name = 'standby1' and state = 'streaming'" 2>/dev/null || true)
    [ "$streaming" = "1" ] && break
    sleep 0.2
  done
  [ "$streaming" = "1" ] || die "the standby is not streaming from the primary"
  log "PostgreSQL standby is streaming from the primary"
}

# ---------------------------------------------------------------- Redis

redis_ping() { # port -> 0 when the server answers PONG
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'PING\r\n' >&3
    timeout 2 head -c 7 <&3
  ) 2>/dev/null | grep -q PONG
}

start_redis_server() {
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$redis_data" \
    --appendonly yes --appendfsync everysec --save '' --protected-mode yes \
    --daemonize no --logfile "$redis_data/redis.log" </dev/null >/dev/null 2>&1 &
  redis_pid=$!
  if ! wait_until 30 "Redis (127.0.0.1:$redis_port, AOF on)" redis_ping "$redis_port"; then
    tail -n 30 "$redis_data/redis.log" >&2 || true
    die "Redis did not start"
  fi
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found: install Debian's redis-server package (apt-get install redis-server)"
  redis_port=$(free_port)
  redis_data="$run_dir/redis"
  mkdir -p "$redis_data"
  start_redis_server
}

stop_redis() { # SIGTERM: Redis flushes the AOF and exits
  local n=0
  pid_alive "${redis_pid:-}" || return 0
  kill "$redis_pid" 2>/dev/null || true
  while pid_alive "$redis_pid" && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  pid_alive "$redis_pid" && kill -9 "$redis_pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- commands

load_state() { [ -f "$state" ] && . "$state" && pg_run_as=($pg_run_as_str); }

cmd_stop() {
  if ! [ -f "$state" ]; then
    rm -f "$envfile"
    return 0
  fi
  load_state || true
  local i
  if [ -n "${pg_bin:-}" ]; then
    for d in "${pg_standby_data:-}" "${pg_primary_data:-}"; do
      [ -n "$d" ] && [ -f "$d/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" -D "$d" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    done
  fi
  for i in 0 1 2; do
    local pid=${etcd_pids[$i]:-}
    pid_alive "$pid" && kill "$pid" 2>/dev/null || true
  done
  for i in 0 1 2; do
    local pid=${etcd_pids[$i]:-} n=0
    while pid_alive "$pid" && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  done
  stop_redis
  if [ -n "${run_dir:-}" ]; then
    [ -f "$run_dir/pg-root-outside" ] && rm -rf "$(cat "$run_dir/pg-root-outside")"
    case "$run_dir" in "$base"/run-*) rm -rf "$run_dir" ;; esac
  fi
  rm -f "$state" "$envfile"
  log "stopped"
}

cmd_start() {
  cmd_stop
  mkdir -p "$base"
  run_dir=$(mktemp -d "$base/run-XXXXXX")
  chmod 755 "$base" "$run_dir"
  # On failure, leave nothing running.
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed; cleaning up"; write_state 2>/dev/null || true; cmd_stop || true; fi' EXIT
  etcd_names=() etcd_pids=() etcd_client_ports=() etcd_peer_ports=() etcd_data=() etcd_cluster=""
  pg_bin="" pg_primary_port="" pg_standby_port="" pg_primary_data="" pg_standby_data="" pg_run_as_str=""
  redis_port="" redis_pid="" redis_data=""
  start_etcd
  write_state
  start_pg
  write_state
  start_redis
  write_state
  write_env
  trap - EXIT
  log "all servers up; environment in $envfile"
}

cmd_status() {
  load_state 2>/dev/null || { echo "not started"; return 1; }
  local ok=0 i
  for i in 0 1 2; do
    if pid_alive "${etcd_pids[$i]}" && etcd_healthy "${etcd_client_ports[$i]}"; then
      echo "${etcd_names[$i]}: up (pid ${etcd_pids[$i]}, 127.0.0.1:${etcd_client_ports[$i]})"
    else
      echo "${etcd_names[$i]}: DOWN"; ok=1
    fi
  done
  for role in primary standby; do
    local port_var="pg_${role}_port"
    if pg_ready "${!port_var}"; then echo "postgres $role: up (127.0.0.1:${!port_var})"; else echo "postgres $role: DOWN"; ok=1; fi
  done
  if [ -n "${redis_port:-}" ] && redis_ping "$redis_port"; then
    echo "redis: up (pid $redis_pid, 127.0.0.1:$redis_port)"
  else
    echo "redis: DOWN"; ok=1
  fi
  return "$ok"
}

cmd_restart() {
  local name=${1:-}
  load_state || die "services are not started"
  case "$name" in
    redis)
      stop_redis
      start_redis_server
      ;;
    pg-primary)
      as_pg "$pg_bin/pg_ctl" -D "$pg_primary_data" -m fast -w -t 60 restart >/dev/null \
        || die "the PostgreSQL primary did not restart"
      wait_until 60 "PostgreSQL primary (127.0.0.1:$pg_primary_port)" pg_ready "$pg_primary_port" \
        || die "the PostgreSQL primary is not accepting connections after the restart"
      ;;
    *) die "restart: no server named '$name' (expected redis or pg-primary)" ;;
  esac
  write_state
  write_env
}

cmd_down() {
  local name=${1:-}
  load_state || die "services are not started"
  case "$name" in
    redis)
      if pid_alive "${redis_pid:-}"; then
        kill -9 "$redis_pid" 2>/dev/null || true
        local n=0
        while pid_alive "$redis_pid" && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
      fi
      log "Redis killed (SIGKILL)"
      ;;
    *) die "down: no server named '$name' (expected redis)" ;;
  esac
}

cmd_up() {
  local name=${1:-}
  load_state || die "services are not started"
  case "$name" in
    redis)
      pid_alive "${redis_pid:-}" && { log "Redis already runs"; return 0; }
      start_redis_server
      ;;
    *) die "up: no server named '$name' (expected redis)" ;;
  esac
  write_state
  write_env
}

cmd_etcd_start() {
  local name=${1:-}
  load_state || die "services are not started"
  local i
  for i in 0 1 2; do
    if [ "${etcd_names[$i]}" = "$name" ]; then
      if pid_alive "${etcd_pids[$i]}" && etcd_healthy "${etcd_client_ports[$i]}"; then
        log "$name already runs"; return 0
      fi
      start_etcd_member "$i" existing
      wait_until 30 "etcd member $name" etcd_healthy "${etcd_client_ports[$i]}" || die "$name did not become healthy"
      write_state
      write_env
      return 0
    fi
  done
  die "no etcd member named '$name' (expected one of: ${etcd_names[*]})"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  etcd-start) cmd_etcd_start "${2:-}" ;;
  restart) cmd_restart "${2:-}" ;;
  down) cmd_down "${2:-}" ;;
  up) cmd_up "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|etcd-start NAME|restart redis|pg-primary|down redis|up redis" >&2; exit 2 ;;
esac
