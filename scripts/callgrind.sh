#!/usr/bin/env bash
# Instructions per call for ours and the closest peer, counted by
# valgrind's callgrind: stable run to run on a shared, loaded machine where
# wall-clock figures are not.
#
# Each case of benches/instructions.rs runs twice, N and 2N iterations; the
# difference of the two instruction totals divided by N is the cost of one
# call. Only the measured loop is counted, and the difference cancels what
# runs once inside it (lazy initialisation).
#
# Usage:
#   scripts/callgrind.sh                 # every case, table on stdout and in target/callgrind/table.md
#   scripts/callgrind.sh CASE...         # only these cases (names from `list`), table in target/callgrind/partial.md
#   scripts/callgrind.sh --annotate CASE # per-function profile of one case (hot-path work)
#   N=20000 scripts/callgrind.sh         # iterations (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-20000}"
OUT=target/callgrind
mkdir -p "$OUT"

if ! command -v valgrind >/dev/null 2>&1; then
  echo "callgrind.sh: valgrind is not installed (apt-get install valgrind); no instruction counts" >&2
  exit 1
fi

# Build the counting binary in the bench profile and find its path.
BIN=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
if [[ -z "$BIN" || ! -x "$BIN" ]]; then
  echo "callgrind.sh: could not build benches/instructions.rs" >&2
  cargo bench --bench instructions --no-run >&2
  exit 1
fi

# Total instructions (Ir) of one run of CASE with ITERS iterations.
count() {
  local case=$1 iters=$2 file
  file="$OUT/$(echo "$case" | tr '/' '_').$iters.out"
  # Only the measured loop (`run` in benches/instructions.rs) is counted:
  # set-up work whose length varies from run to run (a clock's calibration,
  # a runtime's start) stays out of the difference.
  valgrind --tool=callgrind --toggle-collect='instructions::run*' \
    --callgrind-out-file="$file" "$BIN" count "$case" "$iters" 2>"$file.log" >/dev/null ||
    { echo "callgrind.sh: $case failed:" >&2; cat "$file.log" >&2; return 1; }
  sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$file.log"
}

per_call() {
  local case=$1 a b
  a=$(count "$case" "$N")
  b=$(count "$case" $((2 * N)))
  echo $(((b - a + N / 2) / N))
}

if [[ "${1:-}" == "--annotate" ]]; then
  case=${2:?usage: scripts/callgrind.sh --annotate CASE}
  count "$case" $((2 * N)) >/dev/null
  callgrind_annotate --inclusive=no "$OUT/$(echo "$case" | tr '/' '_').$((2 * N)).out" | head -60
  exit 0
fi

mapfile -t LIST < <("$BIN" list)
declare -A PEER
CASES=()
for line in "${LIST[@]}"; do
  read -r c p <<<"$line"
  PEER[$c]=${p:-}
  CASES+=("$c")
done
TABLE="$OUT/table.md"
if [[ $# -gt 0 ]]; then
  CASES=("$@")
  TABLE="$OUT/partial.md" # a partial run never replaces the full table
fi

declare -A IR
for c in "${CASES[@]}"; do
  IR[$c]=$(per_call "$c")
  echo "$c ${IR[$c]}" >&2
done

{
  echo "| case | instructions/call | closest peer | peer instructions/call | ours/peer |"
  echo "|---|---:|---|---:|---:|"
  for c in "${CASES[@]}"; do
    p=${PEER[$c]:-}
    if [[ -n "$p" ]]; then
      if [[ -z "${IR[$p]:-}" ]]; then IR[$p]=$(per_call "$p"); fi
      ratio=$(awk -v a="${IR[$c]}" -v b="${IR[$p]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
      echo "| \`$c\` | ${IR[$c]} | \`$p\` | ${IR[$p]} | $ratio |"
    else
      echo "| \`$c\` | ${IR[$c]} | | | |"
    fi
  done
} | tee "$TABLE"
echo "(N=$N and 2N iterations per case; valgrind $(valgrind --version | sed 's/valgrind-//'); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))" >>"$TABLE"
