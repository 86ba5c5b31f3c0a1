//! A breaker's state drives a degradation level and the host's actions on
//! open: the workflow runtime's "LLM service circuit breaker open -> AI
//! degraded", and the GPU inference platform's "route to alternatives,
//! remove the worker, reassign its queue". Time only moves through
//! `ManualClock`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::circuit_breaker::{
    CircuitBreaker, CircuitBreakerRegistry, CircuitState, TransitionReason,
};
use resilience_core::clock::ManualClock;
use resilience_core::degradation::{DegradationError, DegradationManager};
use resilience_core::presets::{data_platform, gpu_inference, workflow_runtime};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn the_llm_breaker_opening_puts_the_workflow_runtime_in_ai_degraded_and_closing_restores_it() {
    let clock = ManualClock::new();
    let llm =
        CircuitBreaker::with_clock(workflow_runtime::llm_service_breaker(), clock.clone()).unwrap();
    let levels =
        DegradationManager::with_clock(workflow_runtime::degradation().unwrap(), clock.clone())
            .unwrap();
    levels.follow_breaker("llm_service", &llm).unwrap();
    assert_eq!(levels.level().name(), "full_operation");

    llm.try_acquire().unwrap().record_failure();
    llm.try_acquire().unwrap().record_failure();
    assert_eq!(
        levels.level().name(),
        "full_operation",
        "2 failures: the breaker is closed"
    );
    llm.try_acquire().unwrap().record_failure();
    assert_eq!(
        llm.state(),
        CircuitState::Open,
        "3 failures in 60 s open the LLM breaker"
    );
    assert_eq!(
        levels.level().name(),
        "ai_degraded",
        "LLM service circuit breaker open -> level 1, AI degraded"
    );
    assert_eq!(
        levels.is_enabled_by_name("ai_formula_generation"),
        Some(false)
    );
    assert_eq!(levels.is_enabled_by_name("ai_query"), Some(false));

    // 60 s later the breaker admits its single trial; tick() notices even
    // though no call reached the breaker.
    clock.advance(secs(59));
    assert_eq!(
        levels.tick().name(),
        "ai_degraded",
        "still open before 60 s"
    );
    clock.advance(secs(1));
    assert_eq!(
        levels.tick().name(),
        "full_operation",
        "half-open after 60 s: AI requests may go, the breaker admits 1 trial"
    );
    // The trial fails: AI degraded again for another 60 s.
    llm.try_acquire().unwrap().record_failure();
    assert_eq!(
        levels.level().name(),
        "ai_degraded",
        "a failed trial reopens it"
    );
    clock.advance(secs(60));
    levels.tick();
    llm.try_acquire().unwrap().record_success();
    assert_eq!(
        llm.state(),
        CircuitState::Closed,
        "1 successful trial closes it"
    );
    assert_eq!(
        levels.level().name(),
        "full_operation",
        "LLM available -> full operation"
    );
}

#[test]
fn the_llm_provider_breaker_drives_the_data_platform_to_reduced_ai() {
    let clock = ManualClock::new();
    let llm =
        CircuitBreaker::with_clock(data_platform::llm_provider_breaker(), clock.clone()).unwrap();
    let levels =
        DegradationManager::with_clock(data_platform::degradation().unwrap(), clock.clone())
            .unwrap();
    levels.follow_breaker("llm_service", &llm).unwrap();
    for _ in 0..5 {
        llm.try_acquire().unwrap().record_success();
        llm.try_acquire().unwrap().record_success();
        llm.try_acquire().unwrap().record_failure();
    }
    assert_eq!(llm.state(), CircuitState::Open, "5 failures in 60 s");
    assert_eq!(
        levels.level().name(),
        "reduced_ai",
        "LLM unavailable -> level 1"
    );
    assert_eq!(
        levels.mode_by_name("schema_mapping"),
        Some("embedding_only")
    );
}

#[test]
fn following_reports_the_current_state_and_rejects_an_unknown_component() {
    let llm = CircuitBreaker::new(workflow_runtime::llm_service_breaker()).unwrap();
    llm.force_open();
    let levels = DegradationManager::new(workflow_runtime::degradation().unwrap()).unwrap();
    levels.follow_breaker("llm_service", &llm).unwrap();
    assert_eq!(
        levels.level().name(),
        "ai_degraded",
        "a breaker already open is reported when it is followed"
    );
    let err = levels.follow_breaker("llm", &llm).unwrap_err();
    assert!(
        matches!(err, DegradationError::UnknownComponent { .. }),
        "{err}"
    );
    llm.reset();
    assert_eq!(levels.level().name(), "full_operation");
}

#[test]
fn a_dropped_manager_leaves_the_breaker_working() {
    let llm = CircuitBreaker::new(workflow_runtime::llm_service_breaker()).unwrap();
    let levels = DegradationManager::new(workflow_runtime::degradation().unwrap()).unwrap();
    levels.follow_breaker("llm_service", &llm).unwrap();
    drop(levels);
    for _ in 0..3 {
        llm.try_acquire().unwrap().record_failure();
    }
    assert_eq!(llm.state(), CircuitState::Open);
}

#[test]
fn on_open_takes_a_worker_out_of_the_pool_and_reassigns_its_queue_and_on_close_brings_it_back() {
    let clock = ManualClock::new();
    let pool = Arc::new(Mutex::new(vec![
        "w1".to_string(),
        "w2".to_string(),
        "w3".to_string(),
    ]));
    let queues = Arc::new(Mutex::new(vec![
        ("w1".to_string(), vec![1, 2]),
        ("w2".to_string(), vec![3]),
        ("w3".to_string(), vec![]),
    ]));
    let workers = CircuitBreakerRegistry::<String>::builder(gpu_inference::per_worker_breaker())
        .clock(clock.clone())
        .build()
        .unwrap();
    let (p, q) = (pool.clone(), queues.clone());
    workers.on_create(move |worker, breaker| {
        let (pool, q, w) = (p.clone(), q.clone(), worker.clone());
        breaker.on_open(move |e| {
            assert!(matches!(
                e.kind,
                resilience_core::circuit_breaker::CircuitBreakerEventKind::StateTransition {
                    reason: TransitionReason::ConsecutiveFailures { failures: 3 },
                    ..
                }
            ));
            pool.lock().unwrap().retain(|x| *x != w);
            let mut queues = q.lock().unwrap();
            let orphaned = queues
                .iter_mut()
                .find(|(name, _)| *name == w)
                .map(|(_, jobs)| std::mem::take(jobs))
                .unwrap_or_default();
            let healthy = pool.lock().unwrap().first().cloned();
            if let Some(target) = healthy {
                if let Some((_, jobs)) = queues.iter_mut().find(|(name, _)| *name == target) {
                    jobs.extend(orphaned);
                }
            }
        });
        let (p, w) = (p.clone(), worker.clone());
        breaker.on_close(move |_| p.lock().unwrap().push(w.clone()));
    });
    let w1 = "w1".to_string();
    for _ in 0..3 {
        workers.try_acquire(&w1).unwrap().record_failure();
    }
    assert_eq!(
        *pool.lock().unwrap(),
        ["w2", "w3"],
        "3 failures open the per-worker breaker: the worker leaves the pool"
    );
    assert_eq!(
        queues.lock().unwrap()[1],
        ("w2".to_string(), vec![3, 1, 2]),
        "its queued work is reassigned to a healthy worker"
    );
    assert!(queues.lock().unwrap()[0].1.is_empty());
    clock.advance(secs(30));
    for _ in 0..2 {
        workers.try_acquire(&w1).unwrap().record_success();
    }
    assert_eq!(
        *pool.lock().unwrap(),
        ["w2", "w3", "w1"],
        "2 successes after 30 s close it: the worker is back"
    );
}

#[test]
fn on_open_routes_a_model_to_its_alternative_until_on_close() {
    let clock = ManualClock::new();
    let model =
        CircuitBreaker::with_clock(gpu_inference::per_model_breaker(), clock.clone()).unwrap();
    let route = Arc::new(Mutex::new("sdxl"));
    let r = route.clone();
    model.on_open(move |_| *r.lock().unwrap() = "sdxl-fallback");
    let r = route.clone();
    model.on_close(move |_| *r.lock().unwrap() = "sdxl");
    let half_opened = Arc::new(Mutex::new(0));
    let h = half_opened.clone();
    model.on_half_open(move |_| *h.lock().unwrap() += 1);
    for _ in 0..5 {
        model.try_acquire().unwrap().record_failure();
    }
    assert_eq!(
        *route.lock().unwrap(),
        "sdxl-fallback",
        "5 failures: route to the alternative"
    );
    clock.advance(secs(60));
    assert_eq!(model.state(), CircuitState::HalfOpen, "60 s open");
    assert_eq!(*half_opened.lock().unwrap(), 1);
    for _ in 0..3 {
        model.try_acquire().unwrap().record_success();
    }
    assert_eq!(
        *route.lock().unwrap(),
        "sdxl",
        "3 successes close it: back to the model"
    );
}
