//! `cargo run --example config_presets -- FILE` as a config lint: every
//! config file the suite ships is recognised and builds, and a bad value
//! names the entry it belongs to.

#[allow(dead_code)]
#[path = "../examples/gateway/app/stack.rs"]
mod stack;

#[allow(dead_code)]
#[path = "../examples/config_presets/kinds.rs"]
mod kinds;

use kinds::{check, Kind};

fn shipped() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in [
        "presets",
        "resilience-core/presets",
        "resilience-scaling/presets",
    ] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path.display().to_string(), text));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_config_file_is_recognised_and_builds() {
    let files = shipped();
    assert!(files.len() >= 14, "{} files", files.len());
    for (path, text) in &files {
        match check(text) {
            Ok((kind, built)) => assert!(!built.is_empty(), "{path}: {kind:?}"),
            Err(e) => panic!("{path}: {e}"),
        }
    }
    let kind_of = |name: &str| {
        let (_, text) = files.iter().find(|(p, _)| p.ends_with(name)).unwrap();
        check(text).unwrap().0
    };
    assert_eq!(kind_of("/presets/gateway.yaml"), Kind::Gateway);
    assert_eq!(kind_of("circuit_breakers.yaml"), Kind::Breakers);
    assert_eq!(kind_of("retry.yaml"), Kind::Retries);
    assert_eq!(kind_of("bulkheads-model-registry.yaml"), Kind::Bulkheads);
    assert_eq!(kind_of("degradation-data-platform.yaml"), Kind::Degradation);
    assert_eq!(kind_of("runtime-engine-hpa.yaml"), Kind::Hpa);
    assert_eq!(kind_of("gpu-pool-policy.yaml"), Kind::Rules);
    assert_eq!(kind_of("gpu-pool-schedule.yaml"), Kind::Schedule);
    assert_eq!(kind_of("consumer-lag.yaml"), Kind::Lag);
    assert_eq!(
        kind_of("ingestion-workers-predictive.yaml"),
        Kind::Predictive
    );
    assert_eq!(kind_of("spot.yaml"), Kind::Spot);
}

#[test]
fn a_resilience_stack_file_is_recognised() {
    let (kind, built) = check(
        "name: inventory\ndeadline: 10s\ntimeout: 2s\n\
         circuit_breaker: { consecutive_failures: 5 }\nbulkhead: { max_concurrent: 8 }",
    )
    .unwrap();
    assert_eq!(kind, Kind::Stack);
    assert!(built.contains("breaker"), "{built}");
    let err = check("timeout: 0s\ncircuit_breaker: {}").unwrap_err();
    assert_eq!(err.field(), Some("timeout"));
}

#[test]
fn a_bad_value_names_the_breaker_or_pool_it_belongs_to() {
    let err =
        check("payments: { consecutive_failures: 5 }\ninventory: { failure_rate_threshold: 1.5 }")
            .unwrap_err();
    assert_eq!(
        err.field(),
        Some("inventory.failure_rate_threshold"),
        "{err}"
    );
    let err = check("bulkheads:\n  api: { max_concurrent: 0 }\n  dashboard: { max_concurrent: 5 }")
        .unwrap_err();
    assert_eq!(err.field(), Some("pools.api.max_concurrent"), "{err}");
    let err =
        check("checkout:\n  backoff: { kind: exponential, initial: 2s, max: 1s }").unwrap_err();
    assert!(err.to_string().contains("checkout"), "{err}");
    let err = check("just a string").unwrap_err();
    assert_eq!(err.field(), Some("(top level)"));
}
