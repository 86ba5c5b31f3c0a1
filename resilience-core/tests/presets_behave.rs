//! Every shipped preset, driven through the public API, does what its
//! platform's design says: trip counts, windows, open times, half-open
//! probes, retry attempts and waits, pool sizes, degradation levels.
//! Time only moves through `ManualClock`.

use std::time::Duration;

use resilience_core::bulkhead::{BulkheadSet, NoTimer, Priority, RejectReason};
use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitState};
use resilience_core::clock::ManualClock;
use resilience_core::degradation::{ComponentHealth, DegradationConfig, DegradationManager};
use resilience_core::presets::{
    self, data_platform, gpu_inference, model_registry, synthetic_data, workflow_runtime,
};
use resilience_core::retry::{Classification, ErrorClass, RetryError};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---- circuit breakers ---------------------------------------------------------

fn breaker(config: CircuitBreakerConfig) -> (ManualClock, CircuitBreaker) {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(config, clock.clone()).expect("preset is valid");
    (clock, b)
}

fn fail(b: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        b.try_acquire()
            .expect("breaker should permit")
            .record_failure();
    }
}

fn succeed(b: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        b.try_acquire()
            .expect("breaker should permit")
            .record_success();
    }
}

/// What a breaker preset promises once it is open: it refuses calls for
/// `open`, then admits `probes` trial calls at once, and `successes`
/// successful trials close it; a failed trial reopens it for `open` again.
fn assert_recovery(
    what: &str,
    clock: &ManualClock,
    b: &CircuitBreaker,
    open: u64,
    probes: u32,
    successes: u32,
) {
    assert_eq!(b.state(), CircuitState::Open, "{what}: open");
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        secs(open),
        "{what}: stays open {open} s"
    );
    clock.advance(secs(open) - Duration::from_millis(1));
    assert!(
        b.try_acquire().is_err(),
        "{what}: still open just before {open} s"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        b.state(),
        CircuitState::HalfOpen,
        "{what}: half-open after {open} s"
    );
    // A failed trial reopens it for the full open time.
    b.try_acquire().unwrap().record_failure();
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "{what}: a failed trial reopens it"
    );
    clock.advance(secs(open));
    // `probes` trials at once, no more.
    let trials: Vec<_> = (0..probes)
        .map(|i| {
            b.try_acquire().unwrap_or_else(|_| {
                panic!("{what}: half-open admits {probes} test requests (#{i})")
            })
        })
        .collect();
    assert!(
        b.try_acquire().is_err(),
        "{what}: half-open admits only {probes} test request(s) at a time"
    );
    let mut closed_after = 0;
    for t in trials {
        t.record_success();
        closed_after += 1;
        if closed_after < successes {
            assert_eq!(
                b.state(),
                CircuitState::HalfOpen,
                "{what}: {closed_after} successes do not close it"
            );
        }
    }
    while closed_after < successes {
        assert_eq!(
            b.state(),
            CircuitState::HalfOpen,
            "{what}: {closed_after} successes do not close it (needs {successes})"
        );
        b.try_acquire().unwrap().record_success();
        closed_after += 1;
    }
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "{what}: {successes} successes close it"
    );
}

/// A preset that opens on `n` consecutive failures (a success resets the run).
fn assert_consecutive(
    what: &str,
    config: CircuitBreakerConfig,
    n: usize,
    open: u64,
    probes: u32,
    successes: u32,
) {
    let (clock, b) = breaker(config);
    fail(&b, n - 1);
    succeed(&b, 1);
    fail(&b, n - 1);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "{what}: {} failures, a success, {} failures: a success resets the run of {n}",
        n - 1,
        n - 1
    );
    fail(&b, 1);
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "{what}: opens after {n} failures in a row"
    );
    assert_recovery(what, &clock, &b, open, probes, successes);
}

#[test]
fn the_generic_breaker_of_the_synthetic_data_platform_opens_after_5_failures_for_30_s_with_3_trials(
) {
    assert_consecutive("standard", synthetic_data::standard_breaker(), 5, 30, 3, 3);
}

#[test]
fn the_gpu_cluster_breaker_opens_after_3_failures_for_60_s() {
    assert_consecutive(
        "gpu_cluster",
        synthetic_data::gpu_cluster_breaker(),
        3,
        60,
        3,
        3,
    );
}

#[test]
fn the_object_storage_breaker_opens_after_5_failures_for_30_s() {
    assert_consecutive(
        "object_storage",
        synthetic_data::object_storage_breaker(),
        5,
        30,
        3,
        3,
    );
}

#[test]
fn the_quality_service_breaker_opens_after_3_failures_for_45_s() {
    assert_consecutive(
        "quality_service",
        synthetic_data::quality_service_breaker(),
        3,
        45,
        3,
        3,
    );
}

#[test]
fn the_notification_service_breaker_opens_after_10_failures_for_120_s() {
    assert_consecutive(
        "notification_service",
        synthetic_data::notification_service_breaker(),
        10,
        120,
        3,
        3,
    );
}

#[test]
fn the_per_model_inference_breaker_opens_after_5_failures_for_60_s_and_closes_after_3_successes() {
    assert_consecutive("per_model", gpu_inference::per_model_breaker(), 5, 60, 3, 3);
}

#[test]
fn the_per_worker_inference_breaker_opens_after_3_failures_for_30_s_and_closes_after_2_successes() {
    assert_consecutive(
        "per_worker",
        gpu_inference::per_worker_breaker(),
        3,
        30,
        2,
        2,
    );
}

#[test]
fn the_global_inference_breaker_opens_at_a_10_percent_failure_rate_over_60_s() {
    let (clock, b) = breaker(gpu_inference::global_breaker());
    // 100 calls over 50 s with 9 failures: 9 %, below 10 %.
    for i in 0..100 {
        if i % 2 == 0 {
            clock.advance(secs(1));
        }
        let p = b.try_acquire().unwrap();
        if i < 9 {
            p.record_failure()
        } else {
            p.record_success()
        }
    }
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "global: 9 % of 100 calls stays below the 10 % threshold"
    );
    let (_, b) = breaker(gpu_inference::global_breaker());
    succeed(&b, 90);
    fail(&b, 9);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "global: the rate needs 100 calls"
    );
    fail(&b, 1);
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "global: 10 failures in 100 calls within 60 s reach 10 %"
    );
    // The calls older than 60 s leave the window.
    let (clock, b) = breaker(gpu_inference::global_breaker());
    fail(&b, 9);
    clock.advance(secs(61));
    succeed(&b, 90);
    fail(&b, 1);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "global: failures older than the 60 s window do not count (1 of 91)"
    );
}

#[test]
fn the_llm_provider_breaker_counts_5_failures_in_60_s_even_with_successes_between() {
    let (clock, b) = breaker(data_platform::llm_provider_breaker());
    // 4 failures, each followed by successes: well below 50 %.
    for _ in 0..4 {
        fail(&b, 1);
        succeed(&b, 4);
        clock.advance(secs(10));
    }
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "llm_provider: 4 failures in 60 s keep it closed"
    );
    fail(&b, 1);
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "llm_provider: opens after 5 failures in 60 s, successes in between do not reset the count"
    );
    assert_recovery("llm_provider", &clock, &b, 30, 1, 3);
}

#[test]
fn the_llm_provider_breaker_forgets_failures_older_than_60_s() {
    let (clock, b) = breaker(data_platform::llm_provider_breaker());
    fail(&b, 4);
    clock.advance(secs(61));
    fail(&b, 1);
    succeed(&b, 10);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "llm_provider: failures older than the 60 s rolling window do not count"
    );
    fail(&b, 4);
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "llm_provider: 5 failures inside 60 s open it"
    );
}

#[test]
fn the_llm_provider_breaker_also_opens_at_50_percent_over_60_s() {
    let (clock, b) = breaker(data_platform::llm_provider_breaker());
    let config = data_platform::llm_provider_breaker();
    assert_eq!(
        config.failure_rate_threshold,
        Some(0.5),
        "llm_provider: 50 % rate trigger"
    );
    // 2 failures and 2 successes: 50 % of 4 calls, below the 10-call minimum.
    fail(&b, 2);
    succeed(&b, 2);
    clock.advance(secs(1));
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "llm_provider: the rate needs 10 calls"
    );
    succeed(&b, 4);
    fail(&b, 2);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "llm_provider: 4 of 10 calls is below 50 %"
    );
    let (_, b) = breaker(data_platform::llm_provider_breaker().failure_count_threshold(u32::MAX));
    succeed(&b, 5);
    fail(&b, 5);
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "llm_provider: 5 of 10 calls in 60 s is 50 %"
    );
}

#[test]
fn the_maestro_breaker_counts_failures_across_successes_and_half_opens_one_request() {
    let (clock, b) = breaker(model_registry::maestro_breaker());
    for _ in 0..4 {
        fail(&b, 1);
        succeed(&b, 3);
        clock.advance(secs(600));
    }
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "maestro: 4 failures keep it closed"
    );
    fail(&b, 1);
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "maestro: opens after 5 failures; a success while closed does not reset the count"
    );
    assert_recovery("maestro", &clock, &b, 60, 1, 3);
    // Closing resets the count.
    fail(&b, 4);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "maestro: closing resets the failure count"
    );
    assert_eq!(
        model_registry::maestro_breaker().call_timeout,
        Some(secs(30)),
        "maestro: 30 s request timeout"
    );
}

/// A preset that opens on `n` failures within `window` seconds.
fn assert_count_in_window(
    what: &str,
    config: CircuitBreakerConfig,
    n: usize,
    window: u64,
    open: u64,
    probes: u32,
) {
    let (clock, b) = breaker(config.clone());
    fail(&b, n - 1);
    clock.advance(secs(window) + secs(1));
    fail(&b, 1);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "{what}: failures older than {window} s do not count toward {n}"
    );
    for _ in 0..n - 1 {
        succeed(&b, 1);
        fail(&b, 1);
    }
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "{what}: opens after {n} failures in {window} s, successes in between or not"
    );
    assert_recovery(what, &clock, &b, open, probes, probes);
}

#[test]
fn the_metadata_db_breaker_opens_after_5_failures_in_30_s_for_30_s_with_3_trials() {
    assert_count_in_window(
        "metadata_db",
        workflow_runtime::metadata_db_breaker(),
        5,
        30,
        30,
        3,
    );
}

#[test]
fn the_redis_cache_breaker_opens_after_10_failures_in_10_s_for_10_s_with_5_trials() {
    assert_count_in_window(
        "redis_cache",
        workflow_runtime::redis_cache_breaker(),
        10,
        10,
        10,
        5,
    );
}

#[test]
fn the_llm_service_breaker_opens_after_3_failures_in_60_s_for_60_s_with_1_trial() {
    assert_count_in_window(
        "llm_service",
        workflow_runtime::llm_service_breaker(),
        3,
        60,
        60,
        1,
    );
}

#[test]
fn every_breaker_preset_has_a_behaviour_test_here() {
    let tested = [
        "standard",
        "gpu_cluster",
        "object_storage",
        "quality_service",
        "notification_service",
        "llm_provider",
        "maestro_integration",
        "per_model",
        "per_worker",
        "global_inference",
        "metadata_db",
        "redis_cache",
        "llm_service",
    ];
    let shipped: Vec<_> = presets::BREAKERS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        shipped, tested,
        "a new breaker preset needs a behaviour test in this file"
    );
}

// ---- retry schedules ------------------------------------------------------------
//
// One reading for every table: "N retries" = N + 1 attempts, and the
// initial delay is the wait before the first retry.

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// How a preset's jitter may move a scheduled wait `d` (capped at `max`).
#[derive(Clone, Copy, Debug)]
enum Spread {
    Exact,
    PlusTenPercent,
    Equal,
    Full,
}

/// Runs the preset `name` against a dependency that always fails with
/// `class`, on a manual clock, and checks the attempts and every wait.
fn assert_retry_schedule(
    name: &str,
    class: ErrorClass,
    attempts: u32,
    waits: &[Duration],
    spread: Spread,
) {
    let table = presets::retry_table();
    let clock = ManualClock::new();
    let policy = table
        .policy_with_clock(name, std::sync::Arc::new(clock.clone()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let max = policy.backoff().max();
    let mut slept = Vec::new();
    let mut calls = 0u32;
    let out: Result<(), RetryError<ErrorClass>> = block_on(policy.run(
        &|e: &ErrorClass| Classification::from(*e),
        |_| {
            calls += 1;
            std::future::ready(Err(class))
        },
        |d| {
            slept.push(d);
            clock.advance(d);
            std::future::ready(())
        },
    ));
    let err = out.expect_err("the dependency always fails");
    assert_eq!(
        calls,
        attempts,
        "{name}: {} retries = {attempts} attempts in all",
        attempts - 1
    );
    assert_eq!(
        err.attempts(),
        attempts,
        "{name}: the error reports {attempts} attempts"
    );
    assert!(
        matches!(err, RetryError::RetriesExhausted { .. }),
        "{name}: gives up exhausted after {attempts} attempts, got {err:?}"
    );
    assert_eq!(
        slept.len(),
        waits.len(),
        "{name}: {} waits, one before each retry",
        waits.len()
    );
    for (i, (w, d)) in slept.iter().zip(waits).enumerate() {
        let (lo, hi) = match spread {
            Spread::Exact => (*d, *d),
            Spread::PlusTenPercent => (*d, (*d + *d / 10).min(max)),
            Spread::Equal => (*d / 2, *d),
            Spread::Full => (Duration::ZERO, *d),
        };
        assert!(
            *w >= lo && *w <= hi,
            "{name}: wait before retry {} is {d:?} ({spread:?}): got {w:?}",
            i + 1
        );
    }
    assert_eq!(
        clock.elapsed(),
        slept.iter().sum::<Duration>(),
        "{name}: time moved by the waits only"
    );
}

fn doubling(first: Duration, n: u32) -> Vec<Duration> {
    (0..n).map(|i| first * 2u32.pow(i)).collect()
}

#[test]
fn the_synthetic_data_retry_presets_make_the_tables_attempts_and_waits() {
    use ErrorClass::Transient as T;
    // Training job: 3 retries, 1 min -> 15 min, exponential + jitter (delay * (0.5 + random * 0.5)).
    assert_retry_schedule(
        "training_job",
        T,
        4,
        &[MIN, 2 * MIN, 4 * MIN],
        Spread::Equal,
    );
    // Generation batch: 2 retries, 30 s -> 2 min.
    assert_retry_schedule("generation_batch", T, 3, &[30 * SEC, MIN], Spread::Exact);
    // Quality check: 2 retries, 1 min -> 5 min.
    assert_retry_schedule("quality_check", T, 3, &[MIN, 2 * MIN], Spread::Exact);
    // API calls: 3 retries, 1 s -> 10 s.
    assert_retry_schedule("api_call", T, 4, &doubling(SEC, 3), Spread::Exact);
    // DB transactions: 3 retries, 100 ms -> 1 s.
    assert_retry_schedule(
        "db_transaction",
        T,
        4,
        &doubling(100 * MS, 3),
        Spread::Exact,
    );
    // Model load: 2 retries, 5 s -> 30 s, linear.
    assert_retry_schedule("model_load", T, 3, &[5 * SEC, 10 * SEC], Spread::Exact);
    // RetryWithBackoff's defaults: max_retries 3, 1 s, base 2, jitter.
    assert_retry_schedule(
        "training_platform_default",
        ErrorClass::Timeout,
        4,
        &doubling(SEC, 3),
        Spread::Equal,
    );
}

#[test]
fn the_data_platform_retry_presets_make_the_tables_attempts_and_waits() {
    use ErrorClass::Transient as T;
    let p = Spread::PlusTenPercent;
    // API calls: 3 retries, 100 ms -> 5 s.
    assert_retry_schedule("data_api_call", T, 4, &doubling(100 * MS, 3), p);
    // DB queries: 5 retries, 50 ms -> 10 s.
    assert_retry_schedule("db_query", T, 6, &doubling(50 * MS, 5), p);
    // LLM inference: 3 retries, 1 s -> 30 s.
    assert_retry_schedule("llm_inference", T, 4, &doubling(SEC, 3), p);
    // CDC events: 10 retries, 100 ms -> 60 s: the 10th wait is 51.2 s.
    let cdc = doubling(100 * MS, 10);
    assert_eq!(cdc[9], 51_200 * MS);
    assert_retry_schedule("cdc_event", T, 11, &cdc, p);
    // File uploads: 5 retries, 500 ms -> 30 s.
    assert_retry_schedule("file_upload", T, 6, &doubling(500 * MS, 5), p);
}

#[test]
fn the_model_registry_and_inference_retry_presets_make_their_attempts_and_waits() {
    // Retrain requests: max_retries = 5 -> 6 attempts, 1 s first, cap 60 s, +10 %.
    assert_retry_schedule(
        "retrain_request",
        ErrorClass::Transient,
        6,
        &doubling(SEC, 5),
        Spread::PlusTenPercent,
    );
    // In-flight recovery: MAX_RETRIES = 3, min(30, 2 ** retry_count) s.
    assert_retry_schedule(
        "inference_request_recovery",
        ErrorClass::Transient,
        4,
        &[2 * SEC, 4 * SEC, 8 * SEC],
        Spread::Exact,
    );
}

#[test]
fn the_workflow_runtime_retry_presets_make_their_attempts_and_waits() {
    // Idempotent: 3 retries, 100 ms -> 2 s, 2x, 10 % jitter.
    assert_retry_schedule(
        "idempotent_request",
        ErrorClass::ServerError,
        4,
        &doubling(100 * MS, 3),
        Spread::PlusTenPercent,
    );
    // Non-idempotent: 1 retry, only on a connection error before sending.
    assert_retry_schedule(
        "non_idempotent_request",
        ErrorClass::ConnectFailed,
        2,
        &[100 * MS],
        Spread::Exact,
    );
    // Database operations: 3 retries from 50 ms.
    assert_retry_schedule(
        "database_operation",
        ErrorClass::Transient,
        4,
        &doubling(50 * MS, 3),
        Spread::Exact,
    );
    // External calls: 5 retries, 1 s -> 5 min, exponential with jitter.
    assert_retry_schedule(
        "external_call",
        ErrorClass::Transient,
        6,
        &doubling(SEC, 5),
        Spread::Full,
    );
}

#[test]
fn every_retry_preset_has_a_behaviour_test_here() {
    let tested = [
        "training_job",
        "generation_batch",
        "quality_check",
        "api_call",
        "db_transaction",
        "model_load",
        "training_platform_default",
        "data_api_call",
        "db_query",
        "llm_inference",
        "cdc_event",
        "file_upload",
        "retrain_request",
        "inference_request_recovery",
        "idempotent_request",
        "non_idempotent_request",
        "database_operation",
        "external_call",
    ];
    let shipped: Vec<_> = presets::retries().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        shipped, tested,
        "a new retry preset needs a behaviour test in this file"
    );
}

// ---- degradation ---------------------------------------------------------------

fn degradation(config: DegradationConfig) -> (ManualClock, DegradationManager) {
    let clock = ManualClock::new();
    let m = DegradationManager::with_clock(config, clock.clone()).expect("preset is valid");
    (clock, m)
}

/// Every feature's mode at the current level, in `features` order.
fn modes(m: &DegradationManager, features: &[&str]) -> Vec<String> {
    features
        .iter()
        .map(|f| {
            m.mode_by_name(f)
                .unwrap_or_else(|| panic!("no feature {f}"))
                .to_string()
        })
        .collect()
}

const DATA_FEATURES: [&str; 6] = [
    "data_ingestion",
    "schema_mapping",
    "transformations",
    "anomaly_detection",
    "quality_scoring",
    "self_healing",
];

#[test]
fn the_data_platform_matrix_holds_at_every_level_and_recovers_at_once() {
    let (_, m) = degradation(data_platform::degradation().unwrap());
    let normal = [
        "full",
        "llm_embedding",
        "nl_to_sql",
        "ml_ensemble",
        "full_dimensions",
        "full_auto_heal",
    ];
    let level_1 = [
        "full",
        "embedding_only",
        "predefined_sql",
        "statistical_only",
        "core_dimensions",
        "transient_only",
    ];
    let level_2 = [
        "pass_through",
        "manual",
        "pass_through",
        "threshold_only",
        "basic_checks",
        "manual",
    ];
    let emergency = ["buffer", "skip", "skip", "skip", "skip", "disable"];
    assert_eq!(m.level().name(), "full_ai");
    assert_eq!(
        modes(&m, &DATA_FEATURES),
        normal,
        "data platform, normal: full AI features"
    );

    // LLM unavailable -> Level 1 (reduced AI).
    m.report_by_name("llm_service", ComponentHealth::Down)
        .unwrap();
    assert_eq!(m.level().name(), "reduced_ai", "LLM unavailable -> level 1");
    assert_eq!(
        modes(&m, &DATA_FEATURES),
        level_1,
        "data platform, level 1: reduced AI"
    );
    // LLM back: full AI at once, no hold period.
    m.report_by_name("llm_service", ComponentHealth::Healthy)
        .unwrap();
    assert_eq!(
        m.level().name(),
        "full_ai",
        "LLM available -> normal at once"
    );
    // High latency -> Level 1 too.
    m.report_by_name("llm_service", ComponentHealth::Degraded)
        .unwrap();
    assert_eq!(m.level().name(), "reduced_ai", "high latency -> level 1");

    // Compute exhausted -> Level 2 (minimal processing).
    m.report_by_name("compute", ComponentHealth::Down).unwrap();
    assert_eq!(m.level().name(), "minimal", "compute exhausted -> level 2");
    assert_eq!(
        modes(&m, &DATA_FEATURES),
        level_2,
        "data platform, level 2: minimal processing"
    );

    // Storage only available -> Emergency (buffer only).
    m.report_by_name("pipeline_workers", ComponentHealth::Down)
        .unwrap();
    assert_eq!(
        m.level().name(),
        "buffer_only",
        "storage only available -> emergency"
    );
    assert_eq!(
        modes(&m, &DATA_FEATURES),
        emergency,
        "data platform, emergency: buffer only"
    );
    for f in [
        "schema_mapping",
        "transformations",
        "anomaly_detection",
        "quality_scoring",
        "self_healing",
    ] {
        assert_eq!(
            m.is_enabled_by_name(f),
            Some(false),
            "{f} is skipped/disabled in emergency"
        );
    }
    assert_eq!(
        m.is_enabled_by_name("data_ingestion"),
        Some(true),
        "ingestion buffers in emergency"
    );

    // All checks healthy: normal at once.
    let all: Vec<_> = ["llm_service", "compute", "pipeline_workers", "storage"]
        .iter()
        .map(|n| (m.component(n).unwrap(), ComponentHealth::Healthy))
        .collect();
    assert_eq!(
        m.report_all(&all).unwrap().name(),
        "full_ai",
        "all checks healthy -> normal at once"
    );
    assert_eq!(modes(&m, &DATA_FEATURES), normal);
}

const WORKFLOW_FEATURES: [&str; 7] = [
    "ai_formula_generation",
    "ai_query",
    "cache",
    "workflows",
    "writes",
    "reads",
    "api",
];

#[test]
fn the_workflow_runtime_levels_have_their_effects_and_recover_at_once() {
    let (_, m) = degradation(workflow_runtime::degradation().unwrap());
    let row = |m: &DegradationManager| modes(m, &WORKFLOW_FEATURES);
    assert_eq!(
        row(&m),
        ["on", "on", "redis", "realtime", "on", "on", "on"],
        "level 0, full operation: all features, real-time workflows, AI, full caching"
    );
    m.report_by_name("llm_service", ComponentHealth::Down)
        .unwrap();
    assert_eq!(
        m.level().name(),
        "ai_degraded",
        "LLM circuit open -> level 1, AI degraded"
    );
    assert_eq!(
        row(&m),
        ["off", "off", "redis", "realtime", "on", "on", "on"],
        "level 1: AI formula generation and AI query disabled, core platform fully functional"
    );
    m.report_by_name("llm_service", ComponentHealth::Healthy)
        .unwrap();
    assert_eq!(
        m.level().name(),
        "full_operation",
        "LLM available -> full operation at once"
    );

    m.report_by_name("redis_cluster", ComponentHealth::Down)
        .unwrap();
    assert_eq!(
        m.level().name(),
        "cache_degraded",
        "Redis unavailable -> level 2, cache degraded"
    );
    assert_eq!(
        row(&m),
        ["off", "off", "direct_db", "realtime", "on", "on", "on"],
        "level 2: direct database queries, AI disabled"
    );
    m.report_by_name("metadata_db_primary", ComponentHealth::Down)
        .unwrap();
    assert_eq!(
        m.level().name(),
        "read_only",
        "primary DB unavailable -> level 3, read-only"
    );
    assert_eq!(
        row(&m),
        ["off", "off", "direct_db", "paused", "queued", "on", "on"],
        "level 3: reads only, writes queued, workflows paused"
    );
    assert_eq!(
        m.is_enabled_by_name("writes"),
        Some(false),
        "level 3: writes are not served"
    );
    assert_eq!(
        m.is_enabled_by_name("reads"),
        Some(true),
        "level 3: reads are served"
    );
    m.set_manual_floor(Some("maintenance")).unwrap();
    assert_eq!(
        m.level().name(),
        "maintenance",
        "manual activation -> level 4, maintenance"
    );
    assert_eq!(
        row(&m),
        [
            "off",
            "off",
            "direct_db",
            "paused",
            "off",
            "off",
            "service_unavailable"
        ],
        "level 4: all requests rejected, API returns 503"
    );
    m.set_manual_floor(None).unwrap();
    assert_eq!(
        m.level().name(),
        "read_only",
        "maintenance cleared, DB still down -> read-only at once"
    );
    let all: Vec<_> = ["llm_service", "redis_cluster", "metadata_db_primary"]
        .iter()
        .map(|n| (m.component(n).unwrap(), ComponentHealth::Healthy))
        .collect();
    assert_eq!(
        m.report_all(&all).unwrap().name(),
        "full_operation",
        "everything available -> full operation at once"
    );
}

#[test]
fn the_synthetic_data_platform_degrades_by_score_thresholds_and_recovers_stepwise() {
    let (clock, m) = degradation(synthetic_data::degradation().unwrap());
    let names = [
        "gpu_cluster",
        "quality_service",
        "database",
        "storage",
        "queue_depth",
    ];
    let sweep = |m: &DegradationManager, overall: f64| {
        let reports: Vec<_> = names
            .iter()
            .map(|n| (m.component(n).unwrap(), ComponentHealth::Score(overall)))
            .collect();
        m.report_all(&reports).unwrap().severity()
    };
    // overall > 0.9 normal, > 0.7 level 1, > 0.5 level 2, > 0.3 level 3, > 0.1 level 4, else level 5.
    for (overall, level) in [
        (0.95, 0),
        (0.9, 1),
        (0.71, 1),
        (0.7, 2),
        (0.51, 2),
        (0.5, 3),
        (0.31, 3),
        (0.3, 4),
        (0.11, 4),
        (0.1, 5),
    ] {
        let (_, fresh) = degradation(synthetic_data::degradation().unwrap());
        assert_eq!(
            sweep(&fresh, overall),
            level,
            "overall health {overall} -> level {level}"
        );
    }
    let features = |m: &DegradationManager| {
        [
            "optional_quality_checks",
            "diffusion_models",
            "transformer_models",
            "streaming_generation",
            "new_training",
            "generation",
            "writes",
        ]
        .map(|f| m.is_enabled_by_name(f).unwrap())
    };
    let expected = [
        [true, true, true, true, true, true, true],
        [false, true, true, true, true, true, true],
        [false, false, false, true, true, true, true],
        [false, false, false, false, true, true, true],
        [false, false, false, false, false, true, true],
        [false, false, false, false, false, false, false],
    ];
    for (overall, level) in [(1.0, 0), (0.8, 1), (0.6, 2), (0.4, 3), (0.2, 4), (0.0, 5)] {
        let (_, fresh) = degradation(synthetic_data::degradation().unwrap());
        sweep(&fresh, overall);
        assert_eq!(
            features(&fresh),
            expected[level],
            "synthetic-data features at level {level}"
        );
    }
    // Recovery is damped: one level per 60 s hold, 0.05 margin.
    assert_eq!(sweep(&m, 0.35), 3);
    assert_eq!(sweep(&m, 1.0), 3, "recovery waits for the 60 s hold");
    clock.advance(secs(60));
    assert_eq!(m.tick().severity(), 2, "one level per 60 s");
    clock.advance(secs(60));
    assert_eq!(m.tick().severity(), 1);
    clock.advance(secs(60));
    assert_eq!(m.tick().severity(), 0);
}

// ---- bulkheads -------------------------------------------------------------------

fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    std::pin::Pin::new(f).poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[test]
fn the_model_registry_pools_have_their_sizes_and_waits() {
    let set = BulkheadSet::with_clock(model_registry::bulkheads(), ManualClock::new()).unwrap();
    for (name, size, wait, priority) in [
        ("dashboard", 50, 5, Priority::Low),
        ("api", 100, 10, Priority::Medium),
        ("internal", 30, 3, Priority::High),
    ] {
        let pool = set.get(name).unwrap();
        let held: Vec<_> = (0..size)
            .map(|i| {
                pool.try_acquire()
                    .unwrap_or_else(|e| panic!("{name}: admits {size} at once, refused #{i}: {e}"))
            })
            .collect();
        assert!(
            pool.try_acquire().is_err(),
            "{name}: admits no more than {size} at once"
        );
        assert_eq!(pool.priority(), priority, "{name}: priority {priority:?}");
        // A caller finding the pool full waits max_wait_time, then gives up.
        let asked = std::sync::Arc::new(std::sync::Mutex::new(None));
        let record = asked.clone();
        let timer = move |d: Duration| {
            *record.lock().unwrap() = Some(d);
            std::future::ready(())
        };
        let mut waiting = Box::pin(pool.acquire(timer));
        let std::task::Poll::Ready(Err(e)) = poll_once(&mut waiting) else {
            panic!("{name}: a caller that waited max_wait_time gives up")
        };
        assert_eq!(e.reason(), RejectReason::TimedOut, "{name}: times out");
        assert_eq!(
            *asked.lock().unwrap(),
            Some(secs(wait)),
            "{name}: waits at most {wait} s"
        );
        drop(held);
    }
}

#[test]
fn the_model_registry_shared_cap_serves_internal_before_api_before_dashboard() {
    let set = BulkheadSet::with_clock(model_registry::bulkheads(), ManualClock::new()).unwrap();
    let cap = set
        .shared_cap()
        .expect("the model-registry preset sets a shared cap");
    assert_eq!(
        cap.max_concurrent(),
        120,
        "shared cap of 120 calls across the three pools"
    );
    let api = set.get("api").unwrap().clone();
    let dash = set.get("dashboard").unwrap().clone();
    let internal = set.get("internal").unwrap().clone();
    // 100 api calls and 20 dashboard calls fill the cap.
    let mut held: Vec<_> = (0..100).map(|_| api.try_acquire_owned().unwrap()).collect();
    held.extend((0..20).map(|_| dash.try_acquire_owned().unwrap()));
    assert_eq!(cap.in_flight(), 120);
    assert!(
        internal.try_acquire().is_err(),
        "the cap binds: the internal pool has room but the 120 are taken"
    );
    // A dashboard call queues first, then an internal call.
    let mut low = Box::pin(dash.acquire_owned(NoTimer));
    let mut high = Box::pin(internal.acquire_owned(NoTimer));
    assert!(poll_once(&mut low).is_pending());
    assert!(poll_once(&mut high).is_pending());
    assert_eq!(cap.waiting(), 2);
    // One api call ends: the internal (high) caller gets the permit.
    held.pop();
    assert!(
        poll_once(&mut low).is_pending(),
        "dashboard (low) waits while internal (high) is queued"
    );
    let std::task::Poll::Ready(Ok(p)) = poll_once(&mut high) else {
        panic!("internal (high priority) is served first at the shared cap")
    };
    drop(p);
    assert!(
        matches!(poll_once(&mut low), std::task::Poll::Ready(Ok(_))),
        "then the dashboard caller"
    );
}

#[test]
fn the_data_platform_goes_to_level_2_on_multiple_failures_and_emergency_on_a_critical_failure() {
    let (_, m) = degradation(data_platform::degradation().unwrap());
    m.report_by_name("llm_service", ComponentHealth::Down)
        .unwrap();
    assert_eq!(
        m.level().name(),
        "reduced_ai",
        "one failure (LLM) -> level 1"
    );
    m.report_by_name("storage", ComponentHealth::Down).unwrap();
    assert_eq!(
        m.level().name(),
        "minimal",
        "multiple failures (2 of the 4 checks down) -> level 2"
    );
    assert!(m
        .snapshot()
        .triggered_rules
        .iter()
        .any(|r| &**r == "multiple_failures"));
    m.report_by_name("compute", ComponentHealth::Down).unwrap();
    assert_eq!(
        m.level().name(),
        "buffer_only",
        "critical failure (3 of the 4 checks down) -> emergency"
    );
    assert!(m
        .snapshot()
        .triggered_rules
        .iter()
        .any(|r| &**r == "critical_failure"));
    m.report_by_name("compute", ComponentHealth::Healthy)
        .unwrap();
    assert_eq!(
        m.level().name(),
        "minimal",
        "back to 2 failures -> level 2 at once"
    );
}

#[test]
fn the_synthetic_data_platform_notifies_users_with_each_levels_message() {
    let (_, m) = degradation(synthetic_data::degradation().unwrap());
    let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = notices.clone();
    m.on_notice(move |change, message| {
        sink.lock()
            .unwrap()
            .push((change.current.name().to_string(), message.to_string()))
    });
    let names = [
        "gpu_cluster",
        "quality_service",
        "database",
        "storage",
        "queue_depth",
    ];
    let sweep = |overall: f64| {
        let reports: Vec<_> = names
            .iter()
            .map(|n| (m.component(n).unwrap(), ComponentHealth::Score(overall)))
            .collect();
        m.report_all(&reports).unwrap();
    };
    sweep(0.8); // level 1: no notice in the platform's code
    sweep(0.6);
    sweep(0.4);
    sweep(0.2);
    sweep(0.0);
    let expected = [
        ("level_2", "Temporarily limited to fast models"),
        ("level_3", "Streaming generation temporarily disabled"),
        ("level_4", "New training temporarily paused"),
        ("read_only", "System in read-only mode"),
    ]
    .map(|(l, m)| (l.to_string(), m.to_string()));
    assert_eq!(
        *notices.lock().unwrap(),
        expected,
        "notify_users(...) per level, as the platform's code says"
    );
}
