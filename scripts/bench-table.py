#!/usr/bin/env python3
"""Writes BENCHMARKS.md from criterion's results (target/criterion) and the
run facts scripts/bench-table.sh exports (BT_* environment variables).

    scripts/bench-table.py OUT

Called by scripts/bench-table.sh, which runs the suites first (or, with
SKIP_RUN=1, reuses the last run's facts from target/bench-table.env).
"""
import glob, json, os, re, sys

out = sys.argv[1]

PREFIXES = ("circuit_breaker/", "cb_", "bh_", "backoff/ours/", "backoff/backon/", "retry_call/",
            "retry_layer/", "timeout/", "stack/", "hpa/", "rules/", "sim/")

# id -> (median ns, lower, upper)
res = {}
for bj in glob.glob("target/criterion/**/new/benchmark.json", recursive=True):
    d = os.path.dirname(bj)
    try:
        meta = json.load(open(bj))
        est = json.load(open(os.path.join(d, "estimates.json")))
    except (OSError, ValueError):
        continue
    m = est["median"]
    if not meta["full_id"].startswith(PREFIXES):
        continue  # another crate's suite sharing target/criterion
    res[meta["full_id"]] = (
        m["point_estimate"],
        m["confidence_interval"]["lower_bound"],
        m["confidence_interval"]["upper_bound"],
    )

def ns(i):
    v = res.get(i)
    if v is None:
        return None
    return v[0]

def fmt(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:,.2f} ms"
    if v >= 1e4:
        return f"{v / 1e3:,.1f} µs"
    return f"{v:,.1f}"

# (section, label, ours id, peer label, peer id, target)
ROWS = [
    ("Circuit breaker, closed, synchronous API (acquire + record success)", None, None, None, None, None),
    ("", "ours `try_acquire` + `record_success`", "cb_closed/ours/permit", "recloser `call`", "cb_closed/recloser/call", ""),
    ("", "ours `call`", "cb_closed/ours/call", "recloser `call`", "cb_closed/recloser/call", ""),
    ("", "ours `call`, consecutive failures", "cb_closed/ours/consecutive_call", "failsafe `call`, consecutive failures", "cb_closed/failsafe/consecutive_call", ""),
    ("", "ours `call`, 60 s time window", "cb_closed/ours/time_window_call", "failsafe `call`, 60 s success-rate window", "cb_closed/failsafe/time_window_call", ""),
    ("", "ours `call`, 60 s time window", "cb_closed/ours/time_window_call", "ours `call`, count window (100)", "cb_closed/ours/call", "≤ 1.5×"),
    ("", "ours `call`, 60 s time window, `CoarseClock` (1 ms)", "cb_closed/ours/time_window_coarse_call", "ours `call`, count window (100)", "cb_closed/ours/call", "≤ 1.5×"),
    ("Circuit breaker, closed, one request through a tower service (floor: bare no-op)", None, None, None, None, None),
    ("", "ours `CircuitBreakerLayer`", "cb_layer/ours/layer", "tower-resilience `CircuitBreakerLayer`", "cb_layer/tower_resilience/layer", "≤ 0.2×"),
    ("", "ours `CircuitBreakerLayer`", "cb_layer/ours/layer", "recloser `AsyncRecloser` (adapter)", "cb_layer/recloser/async", "≤ 1.5×"),
    ("", "floor: bare no-op service", "cb_layer/floor/noop", "", None, ""),
    ("Circuit breaker, open (call rejected)", None, None, None, None, None),
    ("", "ours core `try_acquire`", "cb_open/ours/core", "recloser `call`", "cb_open/recloser/call", ""),
    ("", "ours core `try_acquire`", "cb_open/ours/core", "failsafe `call`", "cb_open/failsafe/call", ""),
    ("", "ours `CircuitBreakerLayer`", "cb_open/ours/layer", "tower-resilience `CircuitBreakerLayer`", "cb_open/tower_resilience/layer", ""),
    ("Circuit breaker, closed, contended (wall time / total calls)", None, None, None, None, None),
]
for t in (1, 2, 4):
    ROWS += [
        ("", f"ours core, {t} thread(s)", f"cb_contended/ours/core/{t}_threads", "recloser", f"cb_contended/recloser/call/{t}_threads", ""),
        ("", f"ours core, {t} thread(s)", f"cb_contended/ours/core/{t}_threads", "failsafe", f"cb_contended/failsafe/call/{t}_threads", ""),
        ("", f"ours layer, {t} thread(s)", f"cb_contended/ours/layer/{t}_threads", "tower-resilience layer", f"cb_contended/tower_resilience/layer/{t}_threads", ""),
        ("", f"ours `call`, 60 s time window, {t} thread(s)", f"cb_contended/ours/time_window/{t}_threads", "failsafe, 60 s success-rate window", f"cb_contended/failsafe/time_window/{t}_threads", ""),
    ]
ROWS += [
    ("Bulkhead / concurrency limit, uncontended", None, None, None, None, None),
    ("", "ours core `try_acquire` + release", "bh_permit/ours/core", "tokio `Semaphore::try_acquire` + release", "bh_permit/tokio_semaphore/try_acquire", ""),
    ("", "ours core, owned permit", "bh_permit/ours/core_owned", "tokio `Semaphore::try_acquire_owned`", "bh_permit/tokio_semaphore/try_acquire_owned", ""),
    ("", "ours tower `BulkheadLayer`", "bh_layer/ours/layer", "tower `ConcurrencyLimit`", "bh_layer/tower/concurrency_limit", "≤ 1×"),
    ("", "ours core bulkhead as a service (adapter)", "bh_layer/ours/core_adapter", "tower `ConcurrencyLimit`", "bh_layer/tower/concurrency_limit", "≤ 1×"),
    ("", "ours core bulkhead as a service (adapter)", "bh_layer/ours/core_adapter", "tower-resilience `BulkheadLayer`", "bh_layer/tower_resilience/layer", ""),
    ("Bulkhead, contended (wall time / total calls)", None, None, None, None, None),
]
for t in (1, 2, 4):
    ROWS += [
        ("", f"ours core, {t} thread(s)", f"bh_contended/ours/core/{t}_threads", "tokio semaphore", f"bh_contended/tokio_semaphore/{t}_threads", ""),
        ("", f"ours `BulkheadLayer`, {t} thread(s)", f"bh_contended/ours/layer/{t}_threads", "tower `ConcurrencyLimit`", f"bh_contended/tower/concurrency_limit/{t}_threads", ""),
    ]
ROWS += [
    ("Backoff and retry (first attempt succeeds)", None, None, None, None, None),
    ("", "ours: 10 exponential delays", "backoff/ours/sequence10", "backon: 10 exponential delays", "backoff/backon/sequence10", ""),
    ("", "ours: 10 delays, full jitter", "backoff/ours/sequence10_jitter", "backon: 10 delays, jitter", "backoff/backon/sequence10_jitter", ""),
    ("", "ours `RetryPolicy::run` (async)", "retry_call/ours/async", "backon `Retryable::retry`", "retry_call/backon/async", ""),
    ("", "ours `RetryPolicy::run_blocking`", "retry_call/ours/blocking", "backon `BlockingRetryable::retry`", "retry_call/backon/blocking", ""),
    ("", "ours tower `RetryLayer`", "retry_layer/ours/layer", "tower `retry::Retry`, smallest policy (less work)", "retry_layer/tower/retry", ""),
    ("", "ours tower `RetryLayer`", "retry_layer/ours/layer", "tower `retry::Retry`, same work (backoff, attempts, success counted)", "retry_layer/tower/retry_equivalent", "≤ 1×"),
    ("", "ours tower `RetryLayer`", "retry_layer/ours/layer", "tower `retry::Retry`, same work, policy state shared by all calls (one `Arc`, as a budgeted policy holds it)", "retry_layer/tower/retry_equivalent_shared", "≤ 1×"),
    ("", "ours tower `RetryLayer`", "retry_layer/ours/layer", "tower-resilience `RetryLayer`", "retry_layer/tower_resilience/layer", ""),
    ("Timeout (inner ready at once)", None, None, None, None, None),
    ("", "ours tower `TimeoutLayer`", "timeout/ours/layer", "tower `Timeout`", "timeout/tower/timeout", ""),
    ("", "ours tower `TimeoutLayer`", "timeout/ours/layer", "tower-resilience `TimeLimiterLayer`", "timeout/tower_resilience/layer", ""),
    ("Full stack: timeout → retry → breaker → bulkhead → no-op", None, None, None, None, None),
    ("", "ours (4 layers)", "stack/ours/stack4", "tower-resilience (4 layers)", "stack/tower_resilience/stack4", "< 150 ns"),
    ("", "ours `ResilienceStack` from one config", "stack/ours/resilience_stack", "tower-resilience (4 layers)", "stack/tower_resilience/stack4", "< 150 ns"),
    ("", "ours `ResilienceStack` from one config", "stack/ours/resilience_stack", "the same layers hand-built in its order (retry → breaker → bulkhead → per-attempt timeout)", "stack/ours/in_stack_order", "≤ 1×"),
    ("", "tower timeout + retry + limit, with our breaker", "stack/mixed/tower3_ours_breaker", "tower timeout + retry + limit (no breaker)", "stack/tower/stack3", ""),
    ("", "floor: bare no-op service", "stack/floor/noop", "", None, ""),
    ("Autoscaling (no peer)", None, None, None, None, None),
    ("", "`Hpa::decide`, 300 recommendations in the window", "hpa/decide_300_history", "", None, ""),
    ("", "`Hpa::decide`, worst case (all 300 relevant)", "hpa/decide_300_history_worst", "", None, ""),
    ("", "rule engine tick (9 rules, 8 metrics)", "rules/gpu_pool_tick", "", None, ""),
    ("", "7-day 1 s trace, rules policy (604 800 ticks)", "sim/week_1s_rules", "", None, ""),
    ("", "7-day 1 s trace, HPA policy (604 800 ticks)", "sim/week_1s_hpa", "", None, ""),
]

lines = []
w = lines.append
w("# Benchmarks")
w("")
w("Ours and every Rust peer on the same work, in the same run, on the same machine.")
w("Written by `scripts/bench-table.sh`; do not edit by hand (rerun the script).")
w("")
w("## Machine and run")
w("")
w(f"- date: {os.environ['BT_DATE']}, commit `{os.environ['BT_COMMIT']}`")
w(f"- CPU: {os.environ['BT_CPU']} ({os.environ['BT_CPU_EXTRA']}), {os.environ['BT_CORES']} cores visible, {os.environ['BT_MEM']} RAM, {os.environ['BT_KERNEL']}")
w(f"- load average (1, 5, 15 min): {os.environ['BT_LOAD_BEFORE']} before the run, {os.environ['BT_LOAD_AFTER']} after")
w(f"- toolchain: {os.environ['BT_RUSTC']}, `bench` profile (release)")
m, s_ = divmod(int(os.environ["BT_ELAPSED"]), 60)
w(f"- wall time of the run: {m} min {s_} s for suites `{os.environ['BT_SUITES']}`"
  f"{' and callgrind' if os.path.exists(os.environ['BT_CALLGRIND']) else ''}"
  " (criterion: 1 s warm-up, 3 s measurement per benchmark)")
w("- peers: tower-resilience 0.13, failsafe 1.3, recloser 1.4, backon 1.6, tower 0.5 (dev-dependencies only)")
w("")
w("This machine is shared: other builds run on its cores while the suites run, and a load")
w("average above the core count means the benchmark thread was often waiting for a core.")
w("Ours and the peers alternate within one run, so they see the same conditions, but single")
w("figures move by tens of percent between runs. The instruction counts below (callgrind)")
w("do not depend on load and are the figures to compare when the two disagree.")
w("")
# Instructions per call from the callgrind table (case -> count).
cg = os.environ["BT_CALLGRIND"]
ir = {}
if os.path.exists(cg):
    for line in open(cg):
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1].isdigit():
            ir[cells[0]] = int(cells[1])

def ir_ratio(a, b):
    if a in ir and b in ir and ir[b]:
        return f"{ir[a]} / {ir[b]} = {ir[a] / ir[b]:.2f}×"
    return "not counted"

def verdict(ok):
    return "met ✅" if ok else "missed ❌"

w("## Targets")
w("")
w("Time is the criterion median of this run; instructions come from callgrind (see below),")
w("which load does not move. Allocation counts come from `tests/zero_alloc.rs`, part of the")
w("normal test suite.")
w("")
w("| target | time (this run) | instructions/call | verdict (time / instructions) |")
w("|---|---|---|---|")
for label, ours, peer, lim in [
    ("open breaker rejecting (core `try_acquire`) not slower than recloser's `call`",
     "cb_open/ours/core", "cb_open/recloser/call", 1.0),
    ("consecutive-failures breaker `call`, closed, not slower than failsafe's",
     "cb_closed/ours/consecutive_call", "cb_closed/failsafe/consecutive_call", 1.0),
    ("`RetryPolicy::run` (async), first attempt succeeds, not slower than backon",
     "retry_call/ours/async", "retry_call/backon/async", 1.0),
    ("`RetryPolicy::run_blocking`, first attempt succeeds, not slower than backon",
     "retry_call/ours/blocking", "retry_call/backon/blocking", 1.0),
    ("tower `TimeoutLayer` not slower than tower's `Timeout`",
     "timeout/ours/layer", "timeout/tower/timeout", 1.0),
    ("closed breaker through the tower layer ≤ 0.2× tower-resilience's layer",
     "cb_layer/ours/layer", "cb_layer/tower_resilience/layer", 0.2),
    ("closed breaker through the tower layer ≤ 1.5× recloser's call (its async wrapper as a service)",
     "cb_layer/ours/layer", "cb_layer/recloser/async", 1.5),
    ("bulkhead layer, uncontended, not slower than tower `ConcurrencyLimit`",
     "bh_layer/ours/layer", "bh_layer/tower/concurrency_limit", 1.0),
    ("time-window breaker (60 s) `call` ≤ 1.5× the count window's",
     "cb_closed/ours/time_window_call", "cb_closed/ours/call", 1.5),
    ("the same on a `CoarseClock` (1 ms resolution) ≤ 1.5× the count window's",
     "cb_closed/ours/time_window_coarse_call", "cb_closed/ours/call", 1.5),
    ("tower `RetryLayer` not slower than tower's `retry::Retry` doing the same work",
     "retry_layer/ours/layer", "retry_layer/tower/retry_equivalent", 1.0),
    ("`ResilienceStack` from one config not slower than the same layers hand-built in its order",
     "stack/ours/resilience_stack", "stack/ours/in_stack_order", 1.0),
]:
    a, b = ns(ours), ns(peer)
    t = f"{fmt(a)} / {fmt(b)} ns = {a / b:.2f}×" if a is not None and b else "not run"
    v = verdict(a / b <= lim) if a is not None and b else ""
    if ours in ir and peer in ir and ir[peer]:
        v += " / " + verdict(ir[ours] / ir[peer] <= lim)
    w(f"| {label} | {t} | {ir_ratio(ours, peer)} | {v} |")
for label, ours in [
    ("full four-layer stack (timeout → retry → breaker → bulkhead) < 150 ns, 0 allocations",
     "stack/ours/stack4"),
    ("the same built by `ResilienceStack` from one config < 150 ns, 0 allocations",
     "stack/ours/resilience_stack"),
]:
    a = ns(ours)
    t = f"{fmt(a)} ns" if a is not None else "not run"
    v = verdict(a < 150) if a is not None else ""
    n = f"{ir[ours]}" if ours in ir else "not counted"
    w(f"| {label} | {t} | {n} | {v}; 0 allocations (zero_alloc test) |")
w("")
w("## Ours vs peers (criterion median, ns per call)")
w("")
w("Ratio = ours / peer: below 1 means ours is faster. \"—\" means the benchmark has no result")
w("in target/criterion (its suite was not run).")
for sec, label, ours, plabel, peer, target in ROWS:
    if label is None:
        w("")
        w(f"### {sec}")
        w("")
        w("| ours | ns | peer | ns | ours/peer | target |")
        w("|---|---:|---|---:|---:|---|")
        continue
    a, b = ns(ours), (ns(peer) if peer else None)
    ratio = f"{a / b:.2f}×" if a is not None and b else ""
    met = ""
    if target and ratio:
        r = a / b
        lim = {"≤ 0.2×": 0.2, "≤ 1.5×": 1.5, "≤ 1×": 1.0}.get(target)
        if lim is not None:
            met = " ✅" if r <= lim else " ❌"
    if target == "< 150 ns" and a is not None:
        met = " ✅" if a < 150 else " ❌"
    w(f"| {label} | {fmt(a)} | {plabel} | {fmt(b)} | {ratio} | {target}{met} |")

w("")
w("## Instructions per call (callgrind)")
w("")
if os.path.exists(cg):
    w("`scripts/callgrind.sh`: each case of `benches/instructions.rs` runs N and 2N times under")
    w("`valgrind --tool=callgrind`, counting only inside the measured loop; (Ir(2N) - Ir(N)) / N")
    w("is one call. Stable to a few instructions run to run, whatever the load.")
    w("")
    w(open(cg).read().rstrip())
else:
    w("Not run in this pass: `scripts/bench-table.sh` with valgrind installed, or `scripts/callgrind.sh`.")

reg = "target/bench-registry.md"
w("")
w("## Keyed breakers at scale (`benches/registry.rs`)")
w("")
if os.path.exists(reg):
    w("`CircuitBreakerRegistry<u64>` (count window 10, per-key metrics off) against governor's")
    w("`DefaultKeyedRateLimiter` (a `DashMap` of GCRA cells, configured never to refuse), same")
    w("process, same key sequences; bytes are what each asks the allocator for, net. Random keys")
    w("at 100 000 and 1 000 000 are dominated by cache misses, so their times move with the")
    w("machine's load more than any other row. A plain binary, one timed pass per figure,")
    w("median of three.")
    w("")
    w(open(reg).read().rstrip())
else:
    w("Not run in this pass (`SUITES=registry scripts/bench-table.sh`).")

w("")
w("## Every benchmark of this run")
w("")
w("| id | median ns | 95 % interval |")
w("|---|---:|---|")
for k in sorted(res):
    m, lo, hi = res[k]
    w(f"| `{k}` | {fmt(m)} | {fmt(lo)} – {fmt(hi)} |")

w("")
w("## Reproduce")
w("")
w("```sh")
w("scripts/bench-table.sh              # all suites (about 10 minutes), rewrites BENCHMARKS.md")
w("CALLGRIND=0 scripts/bench-table.sh  # without instruction counts (they need valgrind; about 3 minutes)")
w("SKIP_RUN=1 scripts/bench-table.sh   # rewrite BENCHMARKS.md from the last run's results")
w("cargo bench                         # every suite, plain criterion output")
w("cargo bench --bench circuit_breaker # one suite; others: bulkhead, retry, stack, scaling, registry")
w("scripts/callgrind.sh --annotate cb_layer/ours/layer   # where one case spends its instructions")
w("```")
w("")
w("How each peer is configured to do the same work is documented at the top of each")
w("suite in `benches/` (same window, thresholds, limits and attempts; the same no-op inner")
w("service; the same driver: `poll_ready`, `call`, poll with a no-op waker inside one")
w("entered tokio runtime context, nothing spawned).")
notes = "benches/NOTES.md"
if os.path.exists(notes):
    w("")
    w(open(notes).read().rstrip())
# The hand-written section on the stack inside a real HTTP service
# (benches/http_gateway.rs): its latest table if that bench ran, else the
# section as it stands in the current document (up to the next kept
# section), unchanged.
http = "target/bench-http-gateway.md"
section = None
if os.path.exists(http):
    section = "## In a real HTTP service\n\n" + open(http).read().rstrip()
elif os.path.exists(out):
    old_doc = open(out).read()
    i = old_doc.find("\n## In a real HTTP service")
    if i >= 0:
        j = old_doc.find("<!-- kept:", i)
        section = old_doc[i + 1:j if j >= 0 else None].rstrip()
if section:
    w("")
    w(section)
# Sections other scripts write (between `<!-- kept: NAME -->` and
# `<!-- /kept -->`, e.g. scripts/bench-dead-letters.sh's) are kept as they are.
kept = []
if os.path.exists(out):
    kept = re.findall(r"<!-- kept: [^>]*-->.*?<!-- /kept -->", open(out).read(), re.S)
for block in kept:
    w("")
    w(block)
open(out, "w").write("\n".join(lines) + "\n")
print(f"wrote {out}: {len(res)} results")
