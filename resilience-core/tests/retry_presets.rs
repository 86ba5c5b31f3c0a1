//! The reference platforms' per-operation retry tables: the YAML file loads
//! into exactly the documented constructors, and each preset behaves as its
//! platform's table says.

use std::sync::Arc;
use std::time::Duration;

use resilience_core::clock::ManualClock;
use resilience_core::presets;
use resilience_core::retry::{
    BackoffKind, ErrorClass, GiveUpReason, Idempotency, Jitter, RetryConfig, RetryDecision,
    RetryTable,
};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);

#[test]
fn the_yaml_file_loads_into_the_documented_constructors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/presets/retry.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text, presets::RETRY_YAML, "RETRY_YAML embeds the file");
    let table = RetryTable::from_yaml_str(&text).unwrap();
    let presets_table = presets::retry_table();
    assert_eq!(table.len(), presets::retries().len());
    for (name, config) in presets::retries() {
        assert_eq!(table.get(name), Some(&config), "{name}");
    }
    assert_eq!(table, presets_table);
    // Every entry builds a working policy.
    let clock = Arc::new(ManualClock::new());
    for name in table.names() {
        let p = table.policy_with_clock(name, clock.clone()).unwrap();
        assert_eq!(p.name(), name);
    }
}

#[test]
fn the_table_round_trips_through_yaml_and_json() {
    let table = presets::retry_table();
    let yaml = serde_norway::to_string(&table).unwrap();
    assert_eq!(RetryTable::from_yaml_str(&yaml).unwrap(), table);
    let json = serde_json::to_string(&table).unwrap();
    assert_eq!(RetryTable::from_json_str(&json).unwrap(), table);
}

fn check(c: &RetryConfig, retries: u32, initial: Duration, max: Duration, jitter: Jitter) {
    let b = &c.backoff;
    assert_eq!(b.max_attempts(), Some(retries + 1));
    assert_eq!(b.initial(), initial);
    assert_eq!(b.max(), max);
    assert_eq!(b.jitter(), jitter);
}

#[test]
fn synthetic_data_platform_retry_table() {
    check(
        &presets::synthetic_data::training_job_retry(),
        3,
        MIN,
        15 * MIN,
        Jitter::Equal,
    );
    check(
        &presets::synthetic_data::generation_batch_retry(),
        2,
        30 * SEC,
        2 * MIN,
        Jitter::None,
    );
    check(
        &presets::synthetic_data::quality_check_retry(),
        2,
        MIN,
        5 * MIN,
        Jitter::None,
    );
    check(
        &presets::synthetic_data::api_call_retry(),
        3,
        SEC,
        10 * SEC,
        Jitter::None,
    );
    check(
        &presets::synthetic_data::db_transaction_retry(),
        3,
        100 * MS,
        SEC,
        Jitter::None,
    );
    check(
        &presets::synthetic_data::model_load_retry(),
        2,
        5 * SEC,
        30 * SEC,
        Jitter::None,
    );
    assert!(matches!(
        presets::synthetic_data::model_load_retry().backoff.kind(),
        BackoffKind::Linear { .. }
    ));
    let d = presets::synthetic_data::default_retry();
    check(&d, 3, SEC, 60 * SEC, Jitter::Equal);
    assert!(!d.retry_on.contains(ErrorClass::ConnectionReset));
    // Exponential schedules double: training job waits 1, 2, 4 minutes
    // before jitter; equal jitter keeps each within [d/2, d].
    let t = presets::synthetic_data::training_job_retry().backoff;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    let waits: Vec<Duration> = t.delays_with_rng(&mut rng).collect();
    assert_eq!(waits.len(), 3);
    for (w, d) in waits.iter().zip([MIN, 2 * MIN, 4 * MIN]) {
        assert!(*w >= d / 2 && *w <= d, "{w:?} vs {d:?}");
    }
    // Generation batch: 30s then 60s; quality check: 1 min then 2 min.
    assert_eq!(
        presets::synthetic_data::generation_batch_retry()
            .backoff
            .delays()
            .collect::<Vec<_>>(),
        [30 * SEC, MIN]
    );
    assert_eq!(
        presets::synthetic_data::quality_check_retry()
            .backoff
            .delays()
            .collect::<Vec<_>>(),
        [MIN, 2 * MIN]
    );
    // API calls hit the 10s cap on the fourth retry if there were one.
    assert_eq!(
        presets::synthetic_data::api_call_retry()
            .backoff
            .delays()
            .collect::<Vec<_>>(),
        [SEC, 2 * SEC, 4 * SEC]
    );
    assert_eq!(
        presets::synthetic_data::api_call_retry().backoff.delay(5),
        10 * SEC
    );
    assert_eq!(
        presets::synthetic_data::db_transaction_retry()
            .backoff
            .delays()
            .collect::<Vec<_>>(),
        [100 * MS, 200 * MS, 400 * MS]
    );
    assert_eq!(
        presets::synthetic_data::model_load_retry()
            .backoff
            .delays()
            .collect::<Vec<_>>(),
        [5 * SEC, 10 * SEC]
    );
}

#[test]
fn data_platform_retry_table() {
    let p10 = Jitter::proportional(0.1).unwrap();
    check(
        &presets::data_platform::api_call_retry(),
        3,
        100 * MS,
        5 * SEC,
        p10,
    );
    check(
        &presets::data_platform::db_query_retry(),
        5,
        50 * MS,
        10 * SEC,
        p10,
    );
    check(
        &presets::data_platform::llm_inference_retry(),
        3,
        SEC,
        30 * SEC,
        p10,
    );
    check(
        &presets::data_platform::cdc_event_retry(),
        10,
        100 * MS,
        60 * SEC,
        p10,
    );
    check(
        &presets::data_platform::file_upload_retry(),
        5,
        500 * MS,
        30 * SEC,
        p10,
    );
    // CDC's 10th retry waits 100ms * 2^9 = 51.2s plus up to 10%.
    let cdc = presets::data_platform::cdc_event_retry().backoff;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(2);
    let waits: Vec<Duration> = cdc.delays_with_rng(&mut rng).collect();
    assert_eq!(waits.len(), 10);
    for (i, w) in waits.iter().enumerate() {
        let d = cdc.delay(u32::try_from(i).unwrap() + 1);
        assert!(*w >= d && *w <= (d + d / 10).min(60 * SEC));
    }
    assert!(waits[9] >= 51_200 * MS && waits[9] <= 56_320 * MS);
    // +10% never exceeds the cap: from 60s on, it adds nothing.
    assert_eq!(cdc.jittered_delay(11, None, &mut rng), 60 * SEC);
}

#[test]
fn model_registry_and_gpu_inference_code_derived_presets() {
    let p10 = Jitter::proportional(0.1).unwrap();
    check(
        &presets::model_registry::retrain_retry(),
        5,
        SEC,
        60 * SEC,
        p10,
    );
    check(
        &presets::gpu_inference::request_recovery_retry(),
        3,
        2 * SEC,
        30 * SEC,
        Jitter::None,
    );
    // min(30, 2 ** retry_count) for retry_count = 1, 2, 3
    assert_eq!(
        presets::gpu_inference::request_recovery_retry()
            .backoff
            .delays()
            .collect::<Vec<_>>(),
        [2 * SEC, 4 * SEC, 8 * SEC]
    );
}

#[test]
fn workflow_runtime_retry_rules() {
    let clock = Arc::new(ManualClock::new());
    let table = presets::retry_table();
    let p10 = Jitter::proportional(0.1).unwrap();
    check(
        &presets::workflow_runtime::idempotent_retry(),
        3,
        100 * MS,
        2 * SEC,
        p10,
    );
    check(
        &presets::workflow_runtime::database_retry(),
        3,
        50 * MS,
        200 * MS,
        Jitter::None,
    );
    check(
        &presets::workflow_runtime::external_call_retry(),
        5,
        SEC,
        5 * MIN,
        Jitter::Full,
    );

    // Idempotent reads retry on 5xx, timeouts and connection errors, not 429.
    let get = table
        .policy_with_clock("idempotent_request", clock.clone())
        .unwrap();
    for class in [
        ErrorClass::ServerError,
        ErrorClass::Timeout,
        ErrorClass::ConnectFailed,
    ] {
        let now = std::time::Instant::now();
        let mut s = get.start(now);
        assert!(get.next(&mut s, now, class.into()).is_retry(), "{class}");
    }

    // Non-idempotent writes: one retry, only if the request never left.
    let post = table
        .policy_with_clock("non_idempotent_request", clock.clone())
        .unwrap();
    assert_eq!(post.idempotency(), Idempotency::NonIdempotent);
    let now = std::time::Instant::now();
    let mut s = post.start(now);
    assert_eq!(
        post.next(&mut s, now, ErrorClass::ServerError.into()),
        RetryDecision::GiveUp(GiveUpReason::NotRetryable {
            class: ErrorClass::ServerError
        })
    );
    let mut s = post.start(now);
    assert!(post
        .next(&mut s, now, ErrorClass::ConnectFailed.into())
        .is_retry());
    assert_eq!(
        post.next(&mut s, now, ErrorClass::ConnectFailed.into()),
        RetryDecision::GiveUp(GiveUpReason::Exhausted)
    );

    // Database operations: deadlock/lock timeout/connection lost retry;
    // constraint violations and syntax errors (invalid_request) do not.
    let db = table
        .policy_with_clock("database_operation", clock)
        .unwrap();
    for (class, retried) in [
        (ErrorClass::Transient, true),
        (ErrorClass::Timeout, true),
        (ErrorClass::ConnectionReset, true),
        (ErrorClass::InvalidRequest, false),
    ] {
        let mut s = db.start(now);
        assert_eq!(db.next(&mut s, now, class.into()).is_retry(), retried);
    }
}

#[test]
fn unknown_names_and_bad_entries_are_clear_errors() {
    let table = presets::retry_table();
    let err = table.policy("training_jobs").unwrap_err();
    assert_eq!(err.field(), Some("training_jobs"));
    assert!(err.to_string().contains("training_job,"), "{err}");
    let err = RetryTable::from_yaml_str(
        "broken:\n  backoff: {kind: exponential, initial: 10s, max: 1s}\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("initial"), "{err}");
    let bad = RetryTable::from_yaml_str(
        "late:\n  backoff: {kind: constant, initial: 1s}\n  deadline: 0s\n",
    )
    .unwrap();
    assert_eq!(
        bad.policy("late").unwrap_err().field(),
        Some("late.deadline")
    );
}
