#!/usr/bin/env bash
# Runs the side-by-side benchmark suites and writes BENCHMARKS.md: ns/call for
# us and each peer, the ratio us/peer, the machine (cores, CPU model), the
# load average while it ran, the date, the toolchain and how to reproduce.
#
# Usage:
#   scripts/bench-table.sh               # run every suite and callgrind, then write BENCHMARKS.md
#   SKIP_RUN=1 scripts/bench-table.sh    # only rewrite BENCHMARKS.md from target/criterion
#   CALLGRIND=0 scripts/bench-table.sh   # skip scripts/callgrind.sh (instructions/call)
#   SUITES="circuit_breaker stack" scripts/bench-table.sh   # only these suites
#
# The figures are criterion medians (ns per call, one call = one iteration):
# the newest result of every benchmark id of these suites in target/criterion
# (so a rerun of one suite updates its rows and keeps the others).
set -euo pipefail
cd "$(dirname "$0")/.."

SUITES="${SUITES:-circuit_breaker bulkhead retry stack scaling registry}"
OUT="${OUT:-BENCHMARKS.md}"
# Facts of the last run (date, commit, load, wall time), kept so that
# `SKIP_RUN=1` rewrites the document with the facts of the run the figures
# come from rather than those of the rewrite.
RUN_ENV=target/bench-table.env

if [[ -z "${SKIP_RUN:-}" ]]; then
  # The commit the figures belong to; "-dirty" when code differed from it.
  DIRTY=""
  git diff --quiet HEAD -- . ':!BENCHMARKS.md' ':!benches/NOTES.md' 2>/dev/null || DIRTY="-dirty"
  COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$DIRTY"
  DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
  LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
  START=$(date +%s)
  args=()
  for s in $SUITES; do args+=(--bench "$s"); done
  cargo bench "${args[@]}" 2>&1 | tee target/bench-table.log |
    grep -E '^[a-z_]+/.*time:|^Benchmarking .*: Analyzing|time:' || true
  LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
  # Instruction counts are part of the document whenever valgrind is
  # installed (CALLGRIND=0 skips them).
  if [[ "${CALLGRIND:-1}" != "0" ]] && command -v valgrind >/dev/null 2>&1; then
    scripts/callgrind.sh >/dev/null
  fi
  ELAPSED=$(($(date +%s) - START))
  {
    echo "BT_COMMIT='$COMMIT'"
    echo "BT_DATE='$DATE'"
    echo "BT_LOAD_BEFORE='$LOAD_BEFORE'"
    echo "BT_LOAD_AFTER='$LOAD_AFTER'"
    echo "BT_ELAPSED='$ELAPSED'"
    echo "BT_SUITES='$SUITES'"
  } >"$RUN_ENV"
elif [[ ! -f "$RUN_ENV" ]]; then
  echo "bench-table.sh: SKIP_RUN=1 but no $RUN_ENV (run the suites once first)" >&2
  exit 1
fi
# shellcheck disable=SC1090
source "$RUN_ENV"
export BT_COMMIT BT_DATE BT_LOAD_BEFORE BT_LOAD_AFTER BT_ELAPSED BT_SUITES

CPU=$( (lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1) || true)
[[ -z "$CPU" ]] && CPU=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
export BT_CPU="$CPU"
export BT_CORES="$(nproc)"
export BT_CPU_EXTRA="$( (lscpu 2>/dev/null | awk -F: '
  /^CPU family/ { gsub(/ /, "", $2); fam = $2 }
  /^Model:/ { gsub(/ /, "", $2); mod = $2 }
  /^Hypervisor vendor/ { gsub(/^ +/, "", $2); hv = $2 }
  END { s = "family " fam " model " mod; if (hv != "") s = s ", " hv " guest"; print s }') || true)"
export BT_MEM="$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
export BT_KERNEL="$(uname -sr)"
export BT_RUSTC="$(rustc --version)"
export BT_CALLGRIND="target/callgrind/table.md"

python3 scripts/bench-table.py "$OUT"
