//! With feature `tracing`, every layer that decides something on its own
//! (reject, open, fall back, inject a fault) says so as a `tracing` event.
//! A small recording subscriber captures the events' messages and fields.
#![cfg(feature = "tracing")]

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadFull};
use resilience_core::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, CircuitOpen};
use resilience_core::clock::ManualClock;
use resilience_tower::bulkhead::BulkheadLayer;
use resilience_tower::chaos::{Chaos, ChaosConfig, ChaosLayer};
use resilience_tower::circuit_breaker::CircuitBreakerLayer;
use resilience_tower::fallback::FallbackLayer;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One captured event: its level and its fields as `name=value` strings
/// (the message is the field named `message`).
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    fields: Vec<(String, String)>,
}

impl Captured {
    fn message(&self) -> &str {
        self.field("message").unwrap_or("")
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default, Clone)]
struct Recorder {
    events: Arc<Mutex<Vec<Captured>>>,
    next_span: Arc<AtomicU64>,
}

impl Recorder {
    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

struct FieldVisitor<'a>(&'a mut Vec<(String, String)>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut FieldVisitor(&mut fields));
        self.events.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            fields,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Runs `f` on a current-thread runtime with `recorder` as the default
/// subscriber, so every event of the layers lands in it.
fn traced<F: std::future::Future<Output = ()>>(recorder: &Recorder, f: F) {
    let _guard = tracing::subscriber::set_default(recorder.clone());
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f);
}

fn find<'a>(events: &'a [Captured], message: &str) -> &'a Captured {
    events
        .iter()
        .find(|e| e.message() == message)
        .unwrap_or_else(|| panic!("no event {message:?} in {events:#?}"))
}

#[test]
fn breaker_layer_traces_the_transition_and_each_rejection() {
    let recorder = Recorder::default();
    traced(&recorder, async {
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::with_clock(
            CircuitBreakerConfig::new()
                .name("model-a")
                .consecutive_failures(2),
            clock,
        )
        .unwrap();
        let mut svc = CircuitBreakerLayer::new(breaker).layer(service_fn(|_: u32| async {
            Err::<u32, BoxError>("down".into())
        }));
        for _ in 0..2 {
            assert!(svc.ready().await.unwrap().call(1).await.is_err());
        }
        let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
        assert!(err.is::<CircuitOpen>());
    });
    let events = recorder.take();
    let change = find(&events, "circuit breaker state change");
    assert_eq!(change.level, Level::INFO);
    assert_eq!(change.field("breaker"), Some("model-a"));
    assert_eq!(change.field("to"), Some("open"));
    let rejected = find(&events, "circuit breaker rejected a call");
    assert_eq!(rejected.level, Level::DEBUG);
    assert_eq!(rejected.field("breaker"), Some("model-a"));
    assert_eq!(rejected.field("retry_after"), Some("30s"));
}

#[test]
fn bulkhead_layer_traces_a_rejection_with_its_reason() {
    let recorder = Recorder::default();
    traced(&recorder, async {
        let bulkhead =
            Bulkhead::new("api", BulkheadConfig::new(1).max_wait(Duration::ZERO)).unwrap();
        let svc = BulkheadLayer::new(bulkhead).layer(service_fn(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, BoxError>(ms)
        }));
        let mut first = svc.clone();
        let held = tokio::spawn(async move { first.ready().await.unwrap().call(100).await });
        tokio::task::yield_now().await;
        let mut second = svc.clone();
        let err = second.ready().await.unwrap().call(1).await.unwrap_err();
        assert!(err.is::<BulkheadFull>(), "{err}");
        assert_eq!(held.await.unwrap().unwrap(), 100);
    });
    let events = recorder.take();
    let rejected = find(&events, "bulkhead rejected a call");
    assert_eq!(rejected.field("bulkhead"), Some("api"));
    assert_eq!(rejected.field("max_concurrent"), Some("1"));
}

#[test]
fn fallback_traces_which_step_served_and_an_exhausted_chain() {
    let recorder = Recorder::default();
    traced(&recorder, async {
        let mut svc = FallbackLayer::new("provider-a")
            .or(
                "provider-b",
                service_fn(|_: u32| async { Err::<&str, BoxError>("b down".into()) }),
            )
            .or_stale(
                "cache",
                service_fn(|_: u32| async { Ok::<_, BoxError>("cached") }),
            )
            .layer(service_fn(|_: u32| async {
                Err::<&str, BoxError>("a down".into())
            }));
        let served = svc.ready().await.unwrap().call(1).await.unwrap();
        assert_eq!(served.response, "cached");

        let mut dead = FallbackLayer::new("only")
            .or(
                "backup",
                service_fn(|_: u32| async { Err::<&str, BoxError>("backup down".into()) }),
            )
            .layer(service_fn(|_: u32| async {
                Err::<&str, BoxError>("only down".into())
            }));
        assert!(dead.ready().await.unwrap().call(1).await.is_err());
    });
    let events = recorder.take();
    let served = find(&events, "fallback served the request");
    assert_eq!(served.level, Level::INFO);
    assert_eq!(served.field("served_by"), Some("cache"));
    assert_eq!(served.field("step"), Some("2"));
    assert_eq!(served.field("failed_steps"), Some("2"));
    let exhausted = find(&events, "fallback chain exhausted: every step failed");
    assert_eq!(exhausted.level, Level::WARN);
    assert_eq!(exhausted.field("last"), Some("backup"));
    assert_eq!(exhausted.field("error"), Some("backup down"));
}

#[test]
fn chaos_traces_every_injected_fault_and_nothing_else() {
    let recorder = Recorder::default();
    traced(&recorder, async {
        let chaos = Chaos::new(ChaosConfig {
            enabled: true,
            seed: 7,
            error_rate: 0.5,
            abort_rate: 0.0,
            latency: None,
        })
        .unwrap();
        let mut svc = ChaosLayer::new(chaos.clone())
            .layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
        for i in 0..50 {
            let _ = svc.ready().await.unwrap().call(i).await;
        }
        let injected = recorder
            .take()
            .iter()
            .filter(|e| e.message() == "chaos: fault injected")
            .count() as u64;
        assert!(injected > 0);
        assert_eq!(injected, chaos.stats().errors);
    });
}
