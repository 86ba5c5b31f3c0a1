//! Model tests: the heartbeat monitor and the outage detector against simple
//! second-by-second reference models, over random operation sequences.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use resilience_core::clock::{Clock, ManualClock};
use resilience_dr::health::{
    HealthState, HeartbeatConfig, HeartbeatMonitor, OutageConfig, OutageDetector, OutageStatus,
};

// ---------------------------------------------------------------- heartbeat

#[derive(Debug, Clone)]
enum HbOp {
    Advance(u64),
    Beat(u8),
    Check,
    Remove(u8),
}

fn hb_op() -> impl Strategy<Value = HbOp> {
    prop_oneof![
        3 => (0u64..25).prop_map(HbOp::Advance),
        3 => (0u8..4).prop_map(HbOp::Beat),
        2 => Just(HbOp::Check),
        1 => (0u8..4).prop_map(HbOp::Remove),
    ]
}

/// Reference member: counts silence one second at a time and a miss each
/// time a whole interval of silence completes.
#[derive(Debug, Clone)]
struct RefMember {
    silent: u64,
    misses: u64,
    reported: HealthState,
}

struct RefMonitor {
    interval: u64,
    timeout: u64,
    after: u64,
    members: BTreeMap<u8, RefMember>,
}

impl RefMonitor {
    fn state(&self, m: &RefMember) -> HealthState {
        if m.misses >= self.after || m.silent >= self.timeout {
            HealthState::Unhealthy
        } else if m.misses >= 1 {
            HealthState::Suspect
        } else {
            HealthState::Healthy
        }
    }

    fn tick(&mut self) {
        let interval = self.interval;
        for m in self.members.values_mut() {
            m.silent += 1;
            if m.silent % interval == 0 {
                m.misses += 1;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn heartbeat_monitor_matches_reference(
        interval in 1u64..8,
        after in 1u32..5,
        extra in 0u64..20,
        ops in prop::collection::vec(hb_op(), 1..80),
    ) {
        let timeout = interval + extra;
        let cfg = HeartbeatConfig {
            interval: Duration::from_secs(interval),
            timeout: Duration::from_secs(timeout),
            unhealthy_after: after,
        };
        let clock = ManualClock::new();
        let monitor = HeartbeatMonitor::with_clock(cfg, clock.clone()).unwrap();
        let mut model = RefMonitor { interval, timeout, after: u64::from(after), members: BTreeMap::new() };

        for op in ops {
            match op {
                HbOp::Advance(n) => {
                    clock.advance(Duration::from_secs(n));
                    for _ in 0..n { model.tick(); }
                }
                HbOp::Beat(m) => {
                    let got = monitor.heartbeat(&m).map(|e| (e.from, e.to));
                    let expected = match model.members.get_mut(&m) {
                        None => {
                            model.members.insert(m, RefMember { silent: 0, misses: 0, reported: HealthState::Healthy });
                            None
                        }
                        Some(r) => {
                            let from = r.reported;
                            *r = RefMember { silent: 0, misses: 0, reported: HealthState::Healthy };
                            (from != HealthState::Healthy).then_some((from, HealthState::Healthy))
                        }
                    };
                    prop_assert_eq!(got, expected);
                }
                HbOp::Check => {
                    // In id order, as the model's BTreeMap iterates: no sorting here.
                    let got: Vec<(u8, HealthState, HealthState, u32)> =
                        monitor.check().into_iter().map(|e| (e.member, e.from, e.to, e.missed)).collect();
                    let mut expected = Vec::new();
                    let snapshot: Vec<(u8, RefMember)> = model.members.iter().map(|(k, v)| (*k, v.clone())).collect();
                    for (k, m) in snapshot {
                        let s = model.state(&m);
                        if s != m.reported {
                            expected.push((k, m.reported, s, m.misses as u32));
                            if let Some(r) = model.members.get_mut(&k) { r.reported = s; }
                        }
                    }
                    prop_assert_eq!(got, expected);
                }
                HbOp::Remove(m) => {
                    prop_assert_eq!(monitor.remove(&m), model.members.remove(&m).is_some());
                }
            }
            // Statuses agree after every operation.
            prop_assert_eq!(monitor.len(), model.members.len());
            for (k, m) in &model.members {
                let st = monitor.status(k).unwrap();
                prop_assert_eq!(st.state, model.state(m), "member {} silent {}s", k, m.silent);
                prop_assert_eq!(u64::from(st.missed), m.misses);
                prop_assert_eq!(st.silent_for, Duration::from_secs(m.silent));
            }
            let unhealthy = monitor.unhealthy();
            let expected: Vec<u8> = model.members.iter().filter(|(_, m)| model.state(m) == HealthState::Unhealthy).map(|(k, _)| *k).collect();
            prop_assert_eq!(unhealthy, expected);
        }
    }
}

// ---------------------------------------------------------------- outage

#[derive(Debug, Clone)]
enum OutOp {
    Advance(u64),
    Report(u8, bool),
    Observe,
}

fn out_op(n: u8) -> impl Strategy<Value = OutOp> {
    prop_oneof![
        3 => (0u64..12).prop_map(OutOp::Advance),
        5 => (0..n, any::<bool>()).prop_map(|(v, h)| OutOp::Report(v, h)),
        1 => Just(OutOp::Observe),
    ]
}

/// Reference detector: re-evaluates the quorum every second and after every
/// report; the quorum's start is reset whenever it does not hold.
struct RefDetector {
    quorum: usize,
    sustain: u64,
    max_age: u64,
    now: u64,
    votes: BTreeMap<u8, (u64, bool)>,
    since: Option<u64>,
}

impl RefDetector {
    fn down(&self) -> usize {
        self.votes
            .values()
            .filter(|(at, down)| *down && self.now - at < self.max_age)
            .count()
    }

    fn reevaluate(&mut self) {
        if self.down() >= self.quorum {
            if self.since.is_none() {
                self.since = Some(self.now);
            }
        } else {
            self.since = None;
        }
    }

    fn status(&self) -> (u8, Option<u64>, usize) {
        let down = self.down();
        match self.since {
            None => (0, None, down),
            Some(s) if self.now - s >= self.sustain => (2, Some(s), down),
            Some(s) => (1, Some(s), down),
        }
    }
}

fn project(s: OutageStatus, start: std::time::Instant) -> (u8, Option<u64>, usize) {
    let off = |t: std::time::Instant| t.duration_since(start).as_secs();
    match s {
        OutageStatus::Clear => (0, None, 0),
        OutageStatus::Suspected { since, down } => (1, Some(off(since)), down),
        OutageStatus::Confirmed { since, down } => (2, Some(off(since)), down),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn outage_detector_matches_reference(
        (n, quorum) in (1u8..6).prop_flat_map(|n| (Just(n), 1..=n as usize)),
        sustain in 0u64..30,
        max_age in 1u64..15,
        ops in (1u8..6).prop_flat_map(|n| prop::collection::vec(out_op(n), 1..120)),
    ) {
        let clock = ManualClock::new();
        let start = clock.now();
        let cfg = OutageConfig {
            quorum,
            sustain: Duration::from_secs(sustain),
            max_report_age: Duration::from_secs(max_age),
        };
        let det = OutageDetector::with_clock(cfg, 0..n, clock.clone()).unwrap();
        let mut model = RefDetector { quorum, sustain, max_age, now: 0, votes: BTreeMap::new(), since: None };
        for op in ops {
            match op {
                OutOp::Advance(s) => {
                    clock.advance(Duration::from_secs(s));
                    for _ in 0..s {
                        model.now += 1;
                        // time alone can only break a quorum
                        if model.down() < model.quorum { model.since = None; }
                    }
                }
                OutOp::Report(v, healthy) => {
                    let got = det.report(&v, healthy);
                    if v >= n {
                        prop_assert!(got.is_err());
                        continue;
                    }
                    model.votes.insert(v, (model.now, !healthy));
                    model.reevaluate();
                    let got = got.unwrap();
                    let (kind, since, _) = model.status();
                    let (gk, gs, _) = project(got, start);
                    prop_assert_eq!((gk, gs), (kind, since), "after report at {}s", model.now);
                    if kind != 0 {
                        prop_assert_eq!(project(got, start).2, model.down());
                    }
                }
                OutOp::Observe => {
                    model.reevaluate_time_only();
                    let (kind, since, down) = model.status();
                    let got = project(det.status(), start);
                    prop_assert_eq!((got.0, got.1), (kind, since), "observe at {}s", model.now);
                    if kind != 0 { prop_assert_eq!(got.2, down); }
                }
            }
        }
    }
}

impl RefDetector {
    /// Observation does not add votes: only a lapse can change anything.
    fn reevaluate_time_only(&mut self) {
        if self.down() < self.quorum {
            self.since = None;
        }
    }
}

// ---------------------------------------------------------------- recovery policy escalation

#[derive(Debug, Clone)]
enum PolOp {
    Advance(u64),
    Fail(u8, bool),
    Forget(u8),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Escalation happens exactly when the member had at least `after`
    /// failures of that kind (this one included) within the window.
    #[test]
    fn recovery_policy_escalates_like_reference(
        after in 1u32..4,
        within in 1u64..60,
        ops in prop::collection::vec(prop_oneof![
            2 => (0u64..30).prop_map(PolOp::Advance),
            4 => (0u8..3, any::<bool>()).prop_map(|(m, gpu)| PolOp::Fail(m, gpu)),
            1 => (0u8..3).prop_map(PolOp::Forget),
        ], 1..60),
    ) {
        use resilience_dr::health::{Persistence, Plan, RecoveryPolicy};
        use resilience_dr::FailureKind;
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let plan = || Plan::new()
            .step("restart", |_| async { Ok::<(), &str>(()) })
            .if_persists(
                Persistence { after, within: Duration::from_secs(within) },
                Plan::new().step("replace", |_| async { Ok::<(), &str>(()) }),
            );
        let policy = rt.block_on(async {
            RecoveryPolicy::builder()
                .on(FailureKind::GpuError, plan())
                .on(FailureKind::Timeout, plan())
                .clock(resilience_core::clock::TokioClock)
                .build()
                .unwrap()
        });
        let mut now = 0u64;
        let mut history: BTreeMap<(u8, bool), Vec<u64>> = BTreeMap::new();
        for op in ops {
            match op {
                PolOp::Advance(s) => {
                    rt.block_on(tokio::time::advance(Duration::from_secs(s)));
                    now += s;
                }
                PolOp::Forget(m) => {
                    policy.forget(&m);
                    history.retain(|(hm, _), _| *hm != m);
                }
                PolOp::Fail(m, gpu) => {
                    let kind = if gpu { FailureKind::GpuError } else { FailureKind::Timeout };
                    let r = rt.block_on(policy.handle(m, kind));
                    let h = history.entry((m, gpu)).or_default();
                    h.push(now);
                    let count = h.iter().filter(|t| now - **t < within).count() as u32;
                    prop_assert_eq!(r.occurrence, count);
                    prop_assert_eq!(r.escalated, count >= after);
                    prop_assert_eq!(&r.steps[0].0, if count >= after { "replace" } else { "restart" });
                }
            }
        }
    }
}
