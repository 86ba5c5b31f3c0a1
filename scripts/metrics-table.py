#!/usr/bin/env python3
"""Regenerates METRICS.md from the metric tables in the crates' module docs.

Every module that emits metrics documents them in a `//! | `name` | type | ...`
table; this collects those rows, per crate. Run from anywhere:
    python3 scripts/metrics-table.py
"""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["resilience-core", "resilience-tower", "resilience-scaling", "resilience-dr", "resilience-store"]
ROW = re.compile(r"\s*//!\s*(\|\s*`(resilience_[a-z_]+)`.*)$")

out = [
    "# Metrics",
    "",
    "Every metric the suite emits through the [`metrics`](https://docs.rs/metrics) facade, "
    "with its type and labels. Names are stable: a rename is a breaking change. Handles are "
    "registered when a primitive is built, so install your recorder (e.g. "
    "`metrics-exporter-prometheus`) before building breakers, bulkheads and stacks.",
    "",
    "This file is generated from the metric tables in the module docs by "
    "`scripts/metrics-table.py`; `tests/metrics_doc.rs` fails when a metric emitted in code "
    "is missing here.",
    "",
]
for crate in CRATES:
    src = os.path.join(ROOT, crate, "src")
    rows = {}
    for dirpath, _, files in sorted(os.walk(src)):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            module = os.path.relpath(path, src).replace("/mod.rs", "").replace(".rs", "").replace("/", "::")
            with open(path) as fh:
                for line in fh:
                    m = ROW.match(line)
                    if m and m.group(2) not in rows:
                        cells = [c.strip() for c in m.group(1).strip().strip("|").split("|")]
                        rows[m.group(2)] = (module, cells)
    out += [f"## {crate}", "", "| metric | type | labels / meaning | module |", "|---|---|---|---|"]
    for name in sorted(rows):
        module, cells = rows[name]
        kind = cells[1] if len(cells) > 1 else ""
        rest = " — ".join(c for c in cells[2:] if c)
        out.append(f"| `{name}` | {kind} | {rest} | `{module}` |")
    out.append("")
with open(os.path.join(ROOT, "METRICS.md"), "w") as fh:
    fh.write("\n".join(out))
