#!/usr/bin/env bash
# Measures the dead-letter stores (resilience-store/benches/dead_letter.rs):
# enqueue and claim+ack per second, in memory vs PostgreSQL vs Redis Streams,
# against the loopback test servers, and writes the "Dead-letter stores"
# section of BENCHMARKS.md (between its <!-- kept: dead-letter-stores -->
# markers; scripts/bench-table.sh keeps that section when it rewrites the rest).
#
#   scripts/bench-dead-letters.sh        # starts the test servers if they are not up
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-BENCHMARKS.md}"

if ! scripts/services.sh status >/dev/null 2>&1; then
  scripts/services.sh start
  trap 'scripts/services.sh stop || true' EXIT
fi
# shellcheck disable=SC1091
. .test-services/env

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
TABLE=$(cargo bench -q -p resilience-store --all-features --bench dead_letter 2>/dev/null | grep '^|')
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
REDIS=$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')
PG=$("$RESILIENCE_PG_BIN/postgres" --version | sed 's/^postgres (PostgreSQL) //')

SECTION=$(cat <<MD
<!-- kept: dead-letter-stores -->
## Dead-letter stores

Throughput of the durable dead-letter stores against the in-memory queue, on this
machine ($(nproc) cores, ${CPU}), $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$(git rev-parse --short HEAD)\`;
load average ${LOAD_BEFORE} before, ${LOAD_AFTER} after. Servers on loopback as
\`scripts/services.sh\` starts them: PostgreSQL ${PG} (\`fsync = off\`, a test setting:
production pays a WAL flush per commit), Redis ${REDIS} with \`appendonly yes\`,
\`appendfsync everysec\`.

Enqueue: 8 concurrent producers, one letter per call (a JSON job of about 150
bytes). Claim+ack: 4 concurrent replayers, each claiming batches of 100 and
acknowledging every letter with its own round trip (what a replayer does after
each replayed call). Letters per second, release build.

${TABLE}

Regenerate this section alone with \`scripts/bench-dead-letters.sh\`
(\`scripts/bench-table.sh\` rewrites the rest of this file and keeps this section).
<!-- /kept -->
MD
)

python3 - "$OUT" "$SECTION" <<'PY'
import re, sys
out, section = sys.argv[1], sys.argv[2]
text = open(out).read()
pattern = re.compile(r"<!-- kept: dead-letter-stores -->.*?<!-- /kept -->\n?", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: section + "\n", text)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(out, "w").write(text)
print(f"wrote the dead-letter section of {out}")
PY
