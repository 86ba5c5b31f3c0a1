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

/// The `(metric, label)` pairs of every `counter!` / `gauge!` /
/// `histogram!` call in `text`, with metric names given as a literal or as a
/// constant from `consts`.
fn emitted_labels(
    text: &str,
    consts: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for mac in ["counter!(", "gauge!(", "histogram!("] {
        for (at, _) in text.match_indices(mac) {
            // The macro's arguments, up to its closing parenthesis.
            let args = &text[at + mac.len()..];
            let mut depth = 1usize;
            let end = args
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(args.len(), |(i, _)| i);
            let args = &args[..end];
            let first = args.split(',').next().unwrap_or("").trim();
            let name = if let Some(lit) = first.strip_prefix('"') {
                lit.trim_end_matches('"').to_string()
            } else {
                let ident = first.rsplit("::").next().unwrap_or(first);
                match consts.get(ident) {
                    Some(n) => n.clone(),
                    None => continue,
                }
            };
            if !name.starts_with("resilience_") {
                continue;
            }
            for piece in args.split("=>").take(args.matches("=>").count()) {
                // A label is a string literal right before `=>` (not a
                // `match` arm inside a label's value).
                let piece = piece.trim_end();
                if !piece.ends_with('"') {
                    continue;
                }
                let key = piece.rsplit('"').nth(1).unwrap_or("");
                if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    out.push((name.clone(), key.to_string()));
                }
            }
        }
    }
    out
}

#[test]
fn every_emitted_label_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = fs::read_to_string(root.join("METRICS.md")).unwrap();
    let mut texts = Vec::new();
    for krate in [
        "resilience-core",
        "resilience-tower",
        "resilience-scaling",
        "resilience-dr",
    ] {
        sources(&root.join(krate).join("src"), &mut texts);
    }
    // `const NAME: &str = "resilience_…";` anywhere in the sources.
    let mut consts = std::collections::BTreeMap::new();
    for text in &texts {
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line
                .strip_prefix("pub const ")
                .or_else(|| line.strip_prefix("const "))
            {
                if let (Some(ident), Some(value)) = (rest.split(':').next(), rest.split('"').nth(1))
                {
                    consts.insert(ident.trim().to_string(), value.to_string());
                }
            }
        }
    }
    let mut pairs = Vec::new();
    for text in &texts {
        pairs.extend(emitted_labels(text, &consts));
    }
    pairs.sort();
    pairs.dedup();
    assert!(
        pairs.len() > 40,
        "found only {} labels: is the scan broken?",
        pairs.len()
    );
    let missing: Vec<String> = pairs
        .iter()
        .filter(|(name, label)| {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")))
                .unwrap_or("");
            !row.contains(&format!("`{label}`"))
        })
        .map(|(n, l)| format!("{n} {{{l}}}"))
        .collect();
    assert!(
        missing.is_empty(),
        "labels the code emits but METRICS.md does not list for the metric: {missing:#?}"
    );
}
