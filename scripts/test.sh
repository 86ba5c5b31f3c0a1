#!/usr/bin/env bash
# The project's test command (README, step 2; `.ci/run` calls exactly this).
#
# 1. installs what the tests need and is missing (Debian packages, via apt-get),
# 2. starts the test servers on loopback (scripts/services.sh),
# 3. runs cargo fmt --check, clippy with -D warnings, and the whole test suite
#    (unit, integration and doc tests) for every crate with every feature.
#
# Set RESILIENCE_SKIP_SERVICES=1 to skip steps 1-2 (server tests then skip with a
# printed reason). In CI (CI=1) server tests must run: a missing server fails them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; return 1; fi
}

# Build dependencies of etcd-client (feature resilience-dr/etcd, built by
# --all-features): protoc and the protobuf well-known types. Needed even with
# RESILIENCE_SKIP_SERVICES=1.
build_pkgs=()
command -v protoc >/dev/null 2>&1 || build_pkgs+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || build_pkgs+=(libprotobuf-dev)
if [ ${#build_pkgs[@]} -gt 0 ]; then
  log "installing ${build_pkgs[*]} (build dependencies) from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${build_pkgs[@]}" >/dev/null
fi

need_pkgs=()
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then need_pkgs+=(postgresql); fi
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)

if [ "${RESILIENCE_SKIP_SERVICES:-0}" != "1" ]; then
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing ${need_pkgs[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    # policy-rc.d keeps the packages' own services from starting: the tests start
    # their own servers on loopback in temporary directories.
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    as_root apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    as_root rm -f /usr/sbin/policy-rc.d
  fi
  if [ -x scripts/services.sh ]; then
    log "starting test servers on loopback"
    scripts/services.sh start
    trap 'scripts/services.sh stop || true' EXIT
    # shellcheck disable=SC1091
    [ -f .test-services/env ] && . .test-services/env
  fi
  export RESILIENCE_REQUIRE_SERVERS="${RESILIENCE_REQUIRE_SERVERS:-${CI:-0}}"
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

# Tests that talk to the real servers measure takeover times against real
# TTLs, and the PostgreSQL failover test promotes the standby: they run after
# everything else, one binary at a time, failover last. The durable dead-letter
# tests kill replayer processes and restart Redis and the PostgreSQL primary:
# they run alone too, before the failover test, and so do the fleet tests,
# which kill Redis and start it again.
server_tests=(lease_etcd lease_postgres dead_letter_postgres dead_letter_redis fleet_redis fleet_stack_redis fleet_etcd pg_failover)
filter=$(printf 'binary(%s) | ' "${server_tests[@]}"); filter="${filter% | }"

# The fuzz suite (tests/fuzz.rs in every crate) runs as its own step with
# its output shown, so each target's case count is in the log. Its size is
# RESILIENCE_FUZZ_CASES per target (default 256: a few seconds per crate).
fuzz_filter='binary(fuzz)'

log "tests"
# RESILIENCE_NO_NEXTEST=1 takes the plain `cargo test` path even where
# nextest is installed (a fresh CI machine has no nextest: test that path).
if [[ "${RESILIENCE_NO_NEXTEST:-0}" != 1 ]] && cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-features --no-fail-fast -E "not ($filter | $fuzz_filter)"
  log "fuzz suite (cases per target: ${RESILIENCE_FUZZ_CASES:-256})"
  cargo nextest run --workspace --all-features --no-fail-fast -E "$fuzz_filter" \
    --success-output final --status-level fail
  log "soak: a simulated year at 1 s through the scaling evaluators (${RESILIENCE_SOAK_DAYS:=365} days)"
  RESILIENCE_SOAK_DAYS=$RESILIENCE_SOAK_DAYS cargo nextest run -p resilience-scaling --all-features \
    -E 'binary(soak)' --success-output final --status-level fail
  for t in "${server_tests[@]}"; do
    log "server tests: $t"
    cargo nextest run --workspace --all-features --no-fail-fast --test-threads 1 -E "binary($t)"
  done
else
  # cargo test runs one test binary at a time, in name order within a crate
  # (lease_* before pg_failover). The server tests live in resilience-dr: its
  # binaries run with one test at a time, as under nextest, so takeover
  # timings are not measured on an oversubscribed machine.
  cargo test --workspace --exclude resilience-dr --exclude resilience-store --all-features --no-fail-fast --lib --bins --tests --examples
  log "fuzz suite (cases per target: ${RESILIENCE_FUZZ_CASES:-256})"
  cargo test --workspace --all-features --no-fail-fast --test fuzz -- --nocapture
  log "soak: a simulated year at 1 s through the scaling evaluators (${RESILIENCE_SOAK_DAYS:=365} days)"
  RESILIENCE_SOAK_DAYS=$RESILIENCE_SOAK_DAYS cargo test -p resilience-scaling --all-features --test soak -- --nocapture
  log "resilience-store tests (server tests included), one test at a time"
  cargo test -p resilience-store --all-features --no-fail-fast --lib --bins --tests --examples -- --test-threads 1
  log "resilience-dr tests (server tests included), one test at a time"
  cargo test -p resilience-dr --all-features --no-fail-fast --lib --bins --tests --examples -- --test-threads 1
fi

log "doc tests"
cargo test --workspace --all-features --doc

log "alert rules and dashboard up to date with ops/monitoring.toml and METRICS.md"
python3 scripts/ops-gen.py --check

log "README snippets build in a fresh crate with the README's dependencies"
python3 scripts/readme-check.py

log "public API matches the committed snapshot (api/*.txt)"
scripts/api-snapshot.sh

log "docs build without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --quiet

log "all green ($root)"
