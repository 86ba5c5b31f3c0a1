//! Worker lifecycle on a ManualClock: warm-up of the popular models on
//! scale-up, drain of in-flight work before terminate on scale-down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::clock::ManualClock;
use resilience_scaling::lifecycle::{
    LifecycleConfig, LifecycleError, LifecycleEvent, Transition, WorkerLifecycle, WorkerState,
};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The GPU inference platform's model mix.
const MIX: [(&str, f64); 4] = [
    ("sdxl", 60.0),
    ("sd3", 20.0),
    ("flux", 15.0),
    ("other", 5.0),
];

fn fleet() -> (ManualClock, WorkerLifecycle<&'static str>) {
    let clock = ManualClock::new();
    let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
    (clock, f)
}

#[test]
fn a_new_worker_warms_the_top_3_models_before_taking_traffic() {
    let (clock, f) = fleet();
    let models = f.popular_models(&MIX);
    assert_eq!(
        models,
        ["sdxl", "sd3", "flux"],
        "warm pool covering the top 3 models"
    );
    f.scale_up("gpu-1", models);
    assert_eq!(f.state(&"gpu-1"), Some(WorkerState::WarmingUp));
    assert_eq!(
        f.start_request(&"gpu-1"),
        Err(LifecycleError::NotAccepting {
            state: WorkerState::WarmingUp
        }),
        "no traffic before warm-up"
    );
    assert!(f.routable().is_empty());
    clock.advance(secs(40));
    assert!(f.model_loaded(&"gpu-1", "sdxl").is_none());
    assert!(f.model_loaded(&"gpu-1", "sd3").is_none());
    let e = f.model_loaded(&"gpu-1", "flux").unwrap();
    assert_eq!(
        (e.from, e.to, e.transition),
        (
            WorkerState::WarmingUp,
            WorkerState::Ready,
            Transition::Warmed
        )
    );
    assert_eq!(f.routable(), ["gpu-1"]);
    f.start_request(&"gpu-1").unwrap();
    assert_eq!(f.status(&"gpu-1").unwrap().loaded, ["sdxl", "sd3", "flux"]);
}

#[test]
fn a_warm_up_that_overruns_2_minutes_serves_with_what_it_loaded() {
    let (clock, f) = fleet();
    f.scale_up("gpu-1", f.popular_models(&MIX));
    f.model_loaded(&"gpu-1", "sdxl");
    clock.advance(secs(119));
    assert!(f.tick().is_empty(), "warm-up has 2 min");
    clock.advance(secs(1));
    let events = f.tick();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].to, WorkerState::Ready);
    assert_eq!(
        events[0].transition,
        Transition::WarmupTimedOut {
            missing: vec!["sd3".into(), "flux".into()]
        },
        "after 2 min: ready, the missing models load on demand"
    );
}

#[test]
fn scale_down_drains_in_flight_work_before_terminate() {
    let (clock, f) = fleet();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    f.listeners()
        .add_fn(move |e: &LifecycleEvent<&str>| sink.lock().unwrap().push((e.worker, e.to)));
    f.scale_up("gpu-1", vec![]);
    for _ in 0..3 {
        f.start_request(&"gpu-1").unwrap();
    }
    let e = f.scale_down(&"gpu-1").unwrap();
    assert_eq!(e.transition, Transition::DrainStarted { in_flight: 3 });
    assert!(
        matches!(
            f.start_request(&"gpu-1"),
            Err(LifecycleError::NotAccepting {
                state: WorkerState::Draining
            })
        ),
        "a draining worker takes no new request"
    );
    clock.advance(secs(30));
    f.finish_request(&"gpu-1");
    f.finish_request(&"gpu-1");
    assert!(
        f.terminable().is_empty(),
        "1 request still in flight: not yet terminated"
    );
    let e = f.finish_request(&"gpu-1").unwrap();
    assert_eq!(
        (e.to, e.transition),
        (WorkerState::Drained, Transition::Drained)
    );
    assert_eq!(
        f.terminable(),
        ["gpu-1"],
        "complete in-flight, then terminate"
    );
    assert!(f.remove(&"gpu-1"));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("gpu-1", WorkerState::Ready),
            ("gpu-1", WorkerState::Draining),
            ("gpu-1", WorkerState::Drained)
        ]
    );
}

#[test]
fn a_drain_that_overruns_names_the_requests_to_reassign() {
    let (clock, f) = fleet();
    f.scale_up("gpu-1", vec![]);
    f.start_request(&"gpu-1").unwrap();
    f.start_request(&"gpu-1").unwrap();
    f.scale_down(&"gpu-1");
    clock.advance(secs(119));
    assert!(f.tick().is_empty(), "drain has 2 min");
    clock.advance(secs(1));
    let events = f.tick();
    assert_eq!(
        events[0].transition,
        Transition::DrainTimedOut { abandoned: 2 }
    );
    assert_eq!(f.terminable(), ["gpu-1"]);
}

#[test]
fn an_idle_worker_drains_at_once_and_scale_down_picks_the_least_loaded() {
    let (_clock, f) = fleet();
    for w in ["a", "b", "c"] {
        f.scale_up(w, vec![]);
    }
    f.scale_up("warming", vec!["sdxl".into()]);
    f.start_request(&"a").unwrap();
    f.start_request(&"a").unwrap();
    f.start_request(&"c").unwrap();
    assert_eq!(
        f.pick_for_scale_down(3),
        ["warming", "b", "c"],
        "warming-up workers first, then the shortest drains"
    );
    let e = f.scale_down(&"b").unwrap();
    assert_eq!(
        e.to,
        WorkerState::Drained,
        "nothing in flight: drained at once"
    );
    assert!(
        f.scale_down(&"b").is_none(),
        "draining twice changes nothing"
    );
}

#[test]
fn lifecycle_config_errors_name_the_field() {
    let bad = LifecycleConfig {
        warmup_timeout: Duration::ZERO,
        ..Default::default()
    };
    let e = WorkerLifecycle::<u8>::with_clock(bad, ManualClock::new()).unwrap_err();
    assert_eq!(e.field(), Some("warmup_timeout"));
    let (_c, f) = fleet();
    assert_eq!(
        f.start_request(&"nobody"),
        Err(LifecycleError::UnknownWorker)
    );
}

mod model {
    //! The lifecycle against a direct model of its documented rules.

    use std::collections::BTreeMap;
    use std::time::Duration;

    use proptest::prelude::*;
    use resilience_core::clock::ManualClock;
    use resilience_scaling::lifecycle::{LifecycleConfig, WorkerLifecycle, WorkerState};

    #[derive(Debug, Clone)]
    enum Op {
        ScaleUp(u8, usize),
        Load(u8, usize),
        Start(u8),
        Finish(u8),
        ScaleDown(u8),
        Advance(u64),
        Tick,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0u8..4, 0usize..4).prop_map(|(w, n)| Op::ScaleUp(w, n)),
            1 => (0u8..4, 0usize..4).prop_map(|(w, m)| Op::Load(w, m)),
            3 => (0u8..4).prop_map(Op::Start),
            2 => (0u8..4).prop_map(Op::Finish),
            1 => (0u8..4).prop_map(Op::ScaleDown),
            1 => (0u64..90).prop_map(Op::Advance),
            1 => Just(Op::Tick),
        ]
    }

    #[derive(Debug, Clone)]
    struct M {
        state: WorkerState,
        since: u64,
        in_flight: u32,
        pending: Vec<usize>,
    }

    proptest! {
        #[test]
        fn lifecycle_matches_the_model(ops in prop::collection::vec(op(), 1..100)) {
            let clock = ManualClock::new();
            let f = WorkerLifecycle::with_clock(LifecycleConfig::default(), clock.clone()).unwrap();
            let mut model: BTreeMap<u8, M> = BTreeMap::new();
            let mut now = 0u64;
            let name = |m: usize| format!("model-{m}");
            for op in ops {
                match op {
                    Op::Advance(s) => {
                        clock.advance(Duration::from_secs(s));
                        now += s;
                    }
                    Op::ScaleUp(w, n) => {
                        f.scale_up(w, (0..n).map(name).collect());
                        model.entry(w).or_insert(M {
                            state: if n == 0 { WorkerState::Ready } else { WorkerState::WarmingUp },
                            since: now,
                            in_flight: 0,
                            pending: (0..n).collect(),
                        });
                    }
                    Op::Load(w, m) => {
                        f.model_loaded(&w, &name(m));
                        if let Some(x) = model.get_mut(&w) {
                            x.pending.retain(|p| *p != m);
                            if x.state == WorkerState::WarmingUp && x.pending.is_empty() {
                                x.state = WorkerState::Ready;
                                x.since = now;
                            }
                        }
                    }
                    Op::Start(w) => {
                        let ok = f.start_request(&w).is_ok();
                        let expect = model.get(&w).is_some_and(|x| x.state == WorkerState::Ready);
                        prop_assert_eq!(ok, expect, "only a ready worker takes a request");
                        if ok {
                            model.get_mut(&w).unwrap().in_flight += 1;
                        }
                    }
                    Op::Finish(w) => {
                        f.finish_request(&w);
                        if let Some(x) = model.get_mut(&w) {
                            x.in_flight = x.in_flight.saturating_sub(1);
                            if x.state == WorkerState::Draining && x.in_flight == 0 {
                                x.state = WorkerState::Drained;
                                x.since = now;
                            }
                        }
                    }
                    Op::ScaleDown(w) => {
                        f.scale_down(&w);
                        if let Some(x) = model.get_mut(&w) {
                            if matches!(x.state, WorkerState::Ready | WorkerState::WarmingUp) {
                                x.since = now;
                                x.state = if x.in_flight == 0 { WorkerState::Drained } else { WorkerState::Draining };
                            }
                        }
                    }
                    Op::Tick => {
                        f.tick();
                        for x in model.values_mut() {
                            match x.state {
                                WorkerState::WarmingUp if now - x.since >= 120 => {
                                    x.state = WorkerState::Ready;
                                    x.since = now;
                                }
                                WorkerState::Draining if now - x.since >= 120 => {
                                    x.state = WorkerState::Drained;
                                    x.since = now;
                                }
                                _ => {}
                            }
                        }
                    }
                }
                for (w, x) in &model {
                    let s = f.status(w).unwrap();
                    prop_assert_eq!(s.state, x.state, "worker {}", w);
                    prop_assert_eq!(s.in_flight, x.in_flight);
                    // A worker drained by finishing its work had none left.
                    if s.state == WorkerState::Draining {
                        prop_assert!(s.in_flight > 0, "an empty worker is never left draining");
                    }
                }
                prop_assert_eq!(f.routable().len(), model.values().filter(|x| x.state == WorkerState::Ready).count());
            }
        }
    }
}
