#!/usr/bin/env bash
# The public API of every crate, as committed text: api/<crate>.txt.
#
#   scripts/api-snapshot.sh            # check: fails with a diff when the API changed
#   scripts/api-snapshot.sh --update   # rewrite the snapshots (commit them with the change)
#
# The listing comes from rustdoc's JSON output (scripts/public-api.py renders
# it: one line per public item, sorted). rustdoc's JSON backend is unstable;
# RUSTC_BOOTSTRAP=1 lets the stable toolchain produce it, so no nightly is
# needed. Hidden items (deprecated aliases) are included: they are public.
#
# Run by scripts/test.sh, so a change to the public API is always deliberate:
# update the snapshot, and say what changed in CHANGELOG.md.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=check
case "${1:-}" in
  --update) mode=update ;;
  "") ;;
  *) echo "usage: scripts/api-snapshot.sh [--update]" >&2; exit 2 ;;
esac

# package -> library crate name
packages=(resilience-core:resilience_core resilience-tower:resilience_tower
  resilience-scaling:resilience_scaling resilience-dr:resilience_dr resilience-store:resilience_store
  resilience-kit:resilience)

target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p api
status=0
for entry in "${packages[@]}"; do
  pkg=${entry%%:*}
  krate=${entry##*:}
  RUSTC_BOOTSTRAP=1 cargo rustdoc -q -p "$pkg" --all-features --lib -- \
    -Z unstable-options --output-format json --document-hidden-items
  listing=$(python3 scripts/public-api.py "$target/doc/$krate.json")
  snapshot="api/$pkg.txt"
  if [[ $mode == update ]]; then
    printf '%s\n' "$listing" >"$snapshot"
    echo "api-snapshot: wrote $snapshot ($(wc -l <"$snapshot") items)"
  elif ! diff -u "$snapshot" <(printf '%s\n' "$listing") >"$target/api-$pkg.diff"; then
    echo "api-snapshot: the public API of $pkg differs from $snapshot:" >&2
    cat "$target/api-$pkg.diff" >&2
    status=1
  fi
done
if [[ $status != 0 ]]; then
  echo "api-snapshot: if the change is meant, run scripts/api-snapshot.sh --update, commit api/, and note it in CHANGELOG.md" >&2
fi
exit $status
