//! Every metric name the crates emit (a `"resilience_…"` string literal in
//! their sources) is documented in METRICS.md (regenerate it with
//! `scripts/metrics-table.py` after adding one to a module's metric table).

use std::fs;
use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(fs::read_to_string(&path).unwrap());
        }
    }
}

/// `resilience_…` literals that are not metric names.
const NOT_METRICS: &[&str] = &[
    "resilience_leases",       // the PostgreSQL lease backend's default table
    "resilience_dead_letters", // the PostgreSQL dead-letter store's default table
];

#[test]
fn every_emitted_metric_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = fs::read_to_string(root.join("METRICS.md")).unwrap();
    let mut texts = Vec::new();
    for krate in [
        "resilience-core",
        "resilience-tower",
        "resilience-scaling",
        "resilience-dr",
        "resilience-store",
    ] {
        sources(&root.join(krate).join("src"), &mut texts);
    }
    let mut missing = Vec::new();
    let mut seen = 0;
    for text in &texts {
        for piece in text.split('"').skip(1).step_by(2) {
            let is_name = piece.starts_with("resilience_")
                && piece.len() > "resilience_".len()
                && piece.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if is_name && !NOT_METRICS.contains(&piece) {
                seen += 1;
                if !doc.contains(&format!("`{piece}`")) {
                    missing.push(piece.to_string());
                }
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        seen > 50,
        "found only {seen} metric names: is the scan broken?"
    );
    assert!(
        missing.is_empty(),
        "metrics missing from METRICS.md: {missing:?}"
    );
}
