//! The degradation layer: refusal with the level in the error, passing when
//! enabled (and again after recovery), rerouting, ungated requests, foreign
//! feature ids, metrics, and no allocation on the pass path.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use resilience_core::clock::ManualClock;
use resilience_core::degradation::{ComponentHealth, DegradationManager, FeatureId};
use resilience_tower::degradation::{DegradationLayer, FeatureDisabled, UnknownFeature};
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

fn counted(
    calls: Arc<AtomicUsize>,
    tag: &'static str,
) -> impl Service<&'static str, Response = String, Error = BoxError, Future: Send> + Clone + Send {
    service_fn(move |req: &'static str| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok::<_, BoxError>(format!("{tag}: {req}")))
    })
}

fn synthetic(clock: &ManualClock) -> DegradationManager {
    DegradationManager::with_clock(
        resilience_core::presets::synthetic_data::degradation().unwrap(),
        clock.clone(),
    )
    .unwrap()
}

/// Requests name their feature; resolved once into ids.
fn by_name(m: &DegradationManager) -> impl Fn(&&'static str) -> Option<FeatureId> + Clone {
    let ids: Vec<(&'static str, FeatureId)> = [
        "diffusion_models",
        "streaming_generation",
        "generation",
        "writes",
    ]
    .into_iter()
    .map(|n| (n, m.feature(n).unwrap()))
    .collect();
    move |req: &&'static str| ids.iter().find(|(n, _)| n == req).map(|&(_, id)| id)
}

#[tokio::test(start_paused = true)]
async fn rejects_disabled_features_naming_feature_and_level_and_passes_enabled_ones() {
    let clock = ManualClock::new();
    let m = synthetic(&clock);
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = DegradationLayer::new(m.clone(), by_name(&m)).layer(counted(calls.clone(), "gpu"));
    assert_eq!(
        svc.clone().oneshot("diffusion_models").await.unwrap(),
        "gpu: diffusion_models"
    );
    // Score 0.6: level_2, where diffusion models are off.
    m.report_by_name("gpu_cluster", ComponentHealth::Down)
        .unwrap();
    m.report_by_name("quality_service", ComponentHealth::Score(0.0))
        .unwrap();
    assert_eq!(m.level().name(), "level_2");
    let err = svc.clone().oneshot("diffusion_models").await.unwrap_err();
    let d = err
        .downcast_ref::<FeatureDisabled>()
        .expect("FeatureDisabled");
    assert_eq!(d.feature(), "diffusion_models");
    assert_eq!(d.level().name(), "level_2");
    assert_eq!(d.level().severity(), 2);
    assert_eq!(d.mode(), Some("off"));
    assert_eq!(d.manager(), "synthetic-data-platform");
    assert_eq!(d.feature_id(), m.feature("diffusion_models").unwrap());
    assert_eq!(
        err.to_string(),
        "feature `diffusion_models` is disabled at degradation level `level_2` (level 2) of \
         `synthetic-data-platform` (mode `off`); retry after the service recovers, or serve a \
         degraded alternative"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the refused request never ran"
    );
    // Still enabled at level 2: streaming and generation.
    assert!(svc.clone().oneshot("streaming_generation").await.is_ok());
    assert!(svc.clone().oneshot("generation").await.is_ok());
    // Ungated requests always pass.
    assert_eq!(
        svc.clone().oneshot("healthz").await.unwrap(),
        "gpu: healthz"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // Recovery, through the manager's hysteresis: one level per hold period.
    m.report_by_name("gpu_cluster", ComponentHealth::Healthy)
        .unwrap();
    m.report_by_name("quality_service", ComponentHealth::Healthy)
        .unwrap();
    assert!(
        svc.clone().oneshot("diffusion_models").await.is_err(),
        "held"
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(m.tick().name(), "level_1");
    assert!(
        svc.clone().oneshot("diffusion_models").await.is_ok(),
        "on again at level 1"
    );
}

#[tokio::test]
async fn read_only_refuses_writes_and_generation_with_their_mode() {
    let m =
        DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap())
            .unwrap();
    let writes = m.feature("writes").unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = DegradationLayer::new(m.clone(), move |_: &&'static str| writes)
        .layer(counted(calls.clone(), "db"));
    m.report_by_name("metadata_db_primary", ComponentHealth::Down)
        .unwrap();
    let err = svc.clone().oneshot("INSERT").await.unwrap_err();
    let d = err.downcast_ref::<FeatureDisabled>().unwrap();
    assert_eq!((d.level().name(), d.mode()), ("read_only", Some("queued")));
    m.set_manual_floor(Some("maintenance")).unwrap();
    let err = svc.oneshot("INSERT").await.unwrap_err();
    let d = err.downcast_ref::<FeatureDisabled>().unwrap();
    assert_eq!((d.level().name(), d.mode()), ("maintenance", Some("off")));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn reroutes_disabled_requests_to_the_alternative() {
    let clock = ManualClock::new();
    let m = synthetic(&clock);
    let primary = Arc::new(AtomicUsize::new(0));
    let fallback = Arc::new(AtomicUsize::new(0));
    let svc = DegradationLayer::new(m.clone(), by_name(&m))
        .reroute(counted(fallback.clone(), "ctgan"))
        .layer(counted(primary.clone(), "diffusion"));
    assert_eq!(
        svc.clone().oneshot("diffusion_models").await.unwrap(),
        "diffusion: diffusion_models"
    );
    m.report_by_name("gpu_cluster", ComponentHealth::Down)
        .unwrap();
    m.report_by_name("quality_service", ComponentHealth::Down)
        .unwrap();
    assert_eq!(
        svc.clone().oneshot("diffusion_models").await.unwrap(),
        "ctgan: diffusion_models"
    );
    assert_eq!(
        svc.clone().oneshot("generation").await.unwrap(),
        "diffusion: generation"
    );
    assert_eq!(primary.load(Ordering::SeqCst), 2);
    assert_eq!(fallback.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn alternative_errors_pass_through() {
    let m =
        DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap())
            .unwrap();
    let ai = m.feature("ai_query").unwrap();
    m.set_manual_floor(Some("ai_degraded")).unwrap();
    let svc = DegradationLayer::new(m, move |_: &u32| ai)
        .reroute(service_fn(|_: u32| async { Err::<u32, _>("cache miss") }))
        .layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
    let err = svc.oneshot(1).await.unwrap_err();
    assert_eq!(err.to_string(), "cache miss");
}

#[tokio::test]
async fn feature_ids_from_another_manager_are_refused_even_when_rerouting() {
    let a =
        DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap())
            .unwrap();
    let b =
        DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap())
            .unwrap();
    let foreign = b.feature("reads").unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = DegradationLayer::new(a.clone(), move |_: &&'static str| foreign)
        .layer(counted(calls.clone(), "x"));
    let err = svc.oneshot("q").await.unwrap_err();
    let e = err.downcast_ref::<UnknownFeature>().unwrap();
    assert_eq!(e.manager, "workflow-runtime");
    let svc = DegradationLayer::new(a, move |_: &&'static str| foreign)
        .reroute(counted(calls.clone(), "alt"))
        .layer(counted(calls.clone(), "x"));
    assert!(svc.oneshot("q").await.unwrap_err().is::<UnknownFeature>());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

fn poll_ready_and_call<S: Service<&'static str>>(
    svc: &mut S,
    req: &'static str,
) -> Poll<Result<S::Response, S::Error>> {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    let fut = pin!(svc.call(req));
    fut.poll(&mut cx)
}

#[test]
fn refusals_and_reroutes_are_counted_with_feature_and_level() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let clock = ManualClock::new();
    let m = synthetic(&clock);
    m.report_by_name("gpu_cluster", ComponentHealth::Down)
        .unwrap();
    m.report_by_name("quality_service", ComponentHealth::Down)
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut reject =
        DegradationLayer::new(m.clone(), by_name(&m)).layer(counted(calls.clone(), "x"));
    let mut reroute = DegradationLayer::new(m.clone(), by_name(&m))
        .reroute(counted(calls.clone(), "alt"))
        .layer(counted(calls.clone(), "x"));
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..3 {
            assert!(matches!(
                poll_ready_and_call(&mut reject, "diffusion_models"),
                Poll::Ready(Err(_))
            ));
        }
        assert!(matches!(
            poll_ready_and_call(&mut reject, "generation"),
            Poll::Ready(Ok(_))
        ));
        assert!(matches!(
            poll_ready_and_call(&mut reroute, "diffusion_models"),
            Poll::Ready(Ok(_))
        ));
    });
    let snap = snapshotter.snapshot().into_vec();
    let counter = |name: &str| {
        snap.iter()
            .find(|(k, _, _, _)| {
                let labels: Vec<(&str, &str)> =
                    k.key().labels().map(|l| (l.key(), l.value())).collect();
                k.key().name() == name
                    && labels.contains(&("degradation", "synthetic-data-platform"))
                    && labels.contains(&("feature", "diffusion_models"))
                    && labels.contains(&("level", "level_2"))
            })
            .map(|(_, _, _, v)| v)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(
        counter("resilience_degradation_rejected_total"),
        &DebugValue::Counter(3)
    );
    assert_eq!(
        counter("resilience_degradation_rerouted_total"),
        &DebugValue::Counter(1)
    );
}

#[test]
fn counting_allocator_is_active() {
    let info = allocation_counter::measure(|| {
        std::hint::black_box(Box::new(7u64));
    });
    assert_eq!(info.count_total, 1);
}

#[test]
fn the_pass_path_allocates_nothing() {
    let clock = ManualClock::new();
    let m = synthetic(&clock);
    let gated = m.feature("diffusion_models").unwrap();
    let noop = service_fn(|r: &'static str| std::future::ready(Ok::<_, BoxError>(r.len())));
    let mut svc = DegradationLayer::new(m.clone(), move |r: &&'static str| {
        (r.len() > 3).then_some(gated)
    })
    .layer(noop);
    let mut rerouting = DegradationLayer::new(m, move |_: &&'static str| gated)
        .reroute(noop)
        .layer(noop);
    let mut run = || {
        assert!(matches!(
            poll_ready_and_call(&mut svc, "gated"),
            Poll::Ready(Ok(5))
        ));
        assert!(matches!(
            poll_ready_and_call(&mut svc, "ok"),
            Poll::Ready(Ok(2))
        ));
        assert!(matches!(
            poll_ready_and_call(&mut rerouting, "gated"),
            Poll::Ready(Ok(5))
        ));
    };
    run();
    let info = allocation_counter::measure(|| {
        for _ in 0..10_000 {
            run();
        }
    });
    assert_eq!(
        info.count_total, 0,
        "checking an enabled feature must not allocate"
    );
}
