//! Model tests for the failover orchestrator: random scripts of host action
//! results (successes, errors, hangs, delays), guard lags, approval answers,
//! compared with a plain sequential reference model of the phase rules, down
//! to the phase records and the exact elapsed time (under paused tokio time).

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use resilience_dr::failover::*;

#[derive(Debug, Clone, Copy)]
enum Att {
    Ok(u64),
    Err(u64),
    Hang,
}

fn att() -> impl Strategy<Value = Att> {
    prop_oneof![
        4 => (0u64..5).prop_map(Att::Ok),
        2 => (0u64..5).prop_map(Att::Err),
        1 => Just(Att::Hang),
    ]
}

fn atts() -> impl Strategy<Value = Vec<Att>> {
    prop::collection::vec(att(), 0..4)
}

#[derive(Debug, Clone, Copy)]
enum Appr {
    Approve(u64),
    Reject(u64),
    Error(u64),
    NoAnswer,
}

#[derive(Debug, Clone)]
struct Script {
    attempts: u32,
    timeout: u64,
    backoff_initial: u64,
    backoff_max: u64,
    detect: Option<(Vec<Att>, bool)>,
    prepare: Vec<Vec<Att>>,
    guard: Option<(Vec<Att>, u64, bool)>,
    rpo: u64,
    abort_on_breach: bool,
    require_approval: bool,
    approval: Appr,
    approval_timeout: u64,
    switch: Vec<Att>,
    propagation: u64,
    verify: Option<Vec<Att>>,
    fence: Vec<Att>,
    reconcile: Option<Vec<(Att, bool)>>,
}

fn script() -> impl Strategy<Value = Script> {
    let policy = (1u32..4, 5u64..15, 1u64..4, 0u64..8);
    let early = (
        prop::option::of((atts(), prop::bool::weighted(0.85))),
        prop::collection::vec(atts(), 0..3),
        prop::option::of((atts(), 0u64..12, any::<bool>())),
        0u64..10,
        any::<bool>(),
    );
    let gate = (
        any::<bool>(),
        prop_oneof![
            3 => (0u64..10).prop_map(Appr::Approve),
            1 => (0u64..10).prop_map(Appr::Reject),
            1 => (0u64..10).prop_map(Appr::Error),
            1 => Just(Appr::NoAnswer),
        ],
        10u64..60,
    );
    let late = (
        atts(),
        0u64..5,
        prop::option::of(atts()),
        atts(),
        prop::option::of(prop::collection::vec(
            (att(), prop::bool::weighted(0.7)),
            0..4,
        )),
    );
    (policy, early, gate, late).prop_map(
        |(
            (attempts, timeout, backoff_initial, extra),
            (detect, prepare, guard, rpo, abort_on_breach),
            (require_approval, approval, approval_timeout),
            (switch, propagation, verify, fence, reconcile),
        )| Script {
            attempts,
            timeout,
            backoff_initial,
            backoff_max: backoff_initial + extra,
            detect,
            prepare,
            guard,
            rpo,
            abort_on_breach,
            require_approval,
            approval,
            approval_timeout,
            switch,
            propagation,
            verify,
            fence,
            reconcile,
        },
    )
}

// ------------------------------------------------------------ reference model

#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    outcome: (&'static str, Option<Phase>),
    phases: Vec<(Phase, u32, bool, u64)>,
    total: u64,
    switched: bool,
}

struct Model<'a> {
    s: &'a Script,
    t: u64,
    phases: Vec<(Phase, u32, bool, u64)>,
}

impl Model<'_> {
    fn backoff(&self, i: u32) -> u64 {
        (self.s.backoff_initial << i).min(self.s.backoff_max)
    }

    /// Runs one action's attempts from time `t`: (success, attempts, end time).
    fn attempts(
        &self,
        mut t: u64,
        script: &[Att],
        ok_check: impl Fn(usize) -> bool,
    ) -> (bool, u32, u64) {
        for i in 0..self.s.attempts {
            let a = script.get(i as usize).copied().unwrap_or(Att::Ok(0));
            let ok = match a {
                Att::Ok(d) => {
                    t += d;
                    ok_check(i as usize)
                }
                Att::Err(d) => {
                    t += d;
                    false
                }
                Att::Hang => {
                    t += self.s.timeout;
                    false
                }
            };
            if ok {
                return (true, i + 1, t);
            }
            if i + 1 < self.s.attempts {
                t += self.backoff(i);
            }
        }
        (false, self.s.attempts, t)
    }

    fn step(&mut self, phase: Phase, script: &[Att], ok_check: impl Fn(usize) -> bool) -> bool {
        let (ok, n, end) = self.attempts(self.t, script, ok_check);
        self.phases.push((phase, n, ok, end - self.t));
        self.t = end;
        ok
    }

    fn run(mut self) -> Expected {
        let s = self.s;
        let done = |m: Self, kind: &'static str, phase: Option<Phase>, switched: bool| Expected {
            outcome: (kind, phase),
            phases: m.phases,
            total: m.t,
            switched,
        };
        if let Some((d, value)) = &s.detect {
            if !self.step(Phase::Detect, d, |_| true) || !value {
                return done(self, "aborted", Some(Phase::Detect), false);
            }
        }
        if let Some((g, lag, sync)) = &s.guard {
            if !self.step(Phase::Guard, g, |_| true) {
                return done(self, "aborted", Some(Phase::Guard), false);
            }
            let window = if *sync { 0 } else { *lag };
            let breach = (s.rpo == 0 && !sync) || window > s.rpo;
            if breach && s.abort_on_breach {
                return done(self, "aborted", Some(Phase::Guard), false);
            }
        }
        if !s.prepare.is_empty() {
            let runs: Vec<_> = s
                .prepare
                .iter()
                .map(|p| self.attempts(self.t, p, |_| true))
                .collect();
            let all_ok = runs.iter().all(|r| r.0);
            let n = if all_ok {
                runs.iter().map(|r| r.1).max().unwrap_or(0)
            } else {
                s.attempts
            };
            let end = runs.iter().map(|r| r.2).max().unwrap_or(self.t);
            self.phases.push((Phase::Prepare, n, all_ok, end - self.t));
            self.t = end;
            if !all_ok {
                return done(self, "aborted", Some(Phase::Prepare), false);
            }
        }
        if s.require_approval {
            let (took, ok) = match s.approval {
                Appr::Approve(d) => (d, true),
                Appr::Reject(d) | Appr::Error(d) => (d, false),
                Appr::NoAnswer => (s.approval_timeout, false),
            };
            self.phases.push((Phase::Approve, 1, ok, took));
            self.t += took;
            if !ok {
                return done(self, "not_approved", None, false);
            }
        }
        if !self.step(Phase::Switch, &s.switch, |_| true) {
            return done(self, "failed", Some(Phase::Switch), false);
        }
        self.t += s.propagation;
        if let Some(v) = &s.verify {
            if !self.step(Phase::Verify, v, |_| true) {
                return done(self, "failed", Some(Phase::Verify), true);
            }
        }
        if !self.step(Phase::Fence, &s.fence, |_| true) {
            return done(self, "failed", Some(Phase::Fence), true);
        }
        if let Some(r) = &s.reconcile {
            let script: Vec<Att> = r.iter().map(|(a, _)| *a).collect();
            let within: Vec<bool> = r.iter().map(|(_, w)| *w).collect();
            if !self.step(Phase::Reconcile, &script, |i| {
                within.get(i).copied().unwrap_or(true)
            }) {
                return done(self, "completed_unreconciled", None, true);
            }
        }
        done(self, "completed", None, true)
    }
}

// ------------------------------------------------------------ the real thing

fn scripted<T: Clone + Send + Sync + 'static>(
    script: Vec<Att>,
    value: T,
) -> impl Fn(
    StepContext,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send>>
       + Send
       + Sync
       + 'static {
    let script = Arc::new(script);
    move |ctx: StepContext| {
        let a = script
            .get(ctx.attempt as usize - 1)
            .copied()
            .unwrap_or(Att::Ok(0));
        let value = value.clone();
        Box::pin(async move {
            match a {
                Att::Ok(d) => {
                    tokio::time::sleep(Duration::from_secs(d)).await;
                    Ok(value)
                }
                Att::Err(d) => {
                    tokio::time::sleep(Duration::from_secs(d)).await;
                    Err(format!("scripted failure at attempt {}", ctx.attempt))
                }
                Att::Hang => std::future::pending().await,
            }
        })
    }
}

fn build(s: &Script) -> Orchestrator {
    let secs = Duration::from_secs;
    let mut cfg = FailoverConfig {
        require_approval: s.require_approval,
        approval_timeout: secs(s.approval_timeout),
        propagation_wait: secs(s.propagation),
        abort_on_rpo_breach: s.abort_on_breach,
        ..Default::default()
    };
    cfg.steps.default = StepPolicy {
        timeout: secs(s.timeout),
        attempts: s.attempts,
        backoff_initial: secs(s.backoff_initial),
        backoff_max: secs(s.backoff_max),
    };
    let mut a = FailoverActions::new(
        scripted(s.switch.clone(), ()),
        scripted(s.fence.clone(), ()),
    );
    if let Some((d, v)) = &s.detect {
        a = a.detect(scripted(d.clone(), *v));
    }
    for (i, p) in s.prepare.iter().enumerate() {
        a = a.prepare(format!("prep{i}"), scripted(p.clone(), ()));
    }
    if let Some((g, lag, sync)) = &s.guard {
        cfg.objectives = vec![DataObjective::new("db", secs(s.rpo))];
        let lag = if *sync {
            DataLag::synchronous("db")
        } else {
            DataLag::asynchronous("db", secs(*lag))
        };
        a = a.guard(scripted(g.clone(), ReplicationStatus::from(vec![lag])));
    }
    if s.require_approval {
        let appr = s.approval;
        a = a.approve(move |_| async move {
            match appr {
                Appr::Approve(d) => {
                    tokio::time::sleep(Duration::from_secs(d)).await;
                    Ok(Approval::approved("op"))
                }
                Appr::Reject(d) => {
                    tokio::time::sleep(Duration::from_secs(d)).await;
                    Ok(Approval::rejected("op", "no"))
                }
                Appr::Error(d) => {
                    tokio::time::sleep(Duration::from_secs(d)).await;
                    Err("pager unreachable".to_string())
                }
                Appr::NoAnswer => std::future::pending().await,
            }
        });
    }
    if let Some(v) = &s.verify {
        a = a.verify(scripted(v.clone(), ()));
    }
    if let Some(r) = &s.reconcile {
        let atts: Vec<Att> = r.iter().map(|(a, _)| *a).collect();
        let within = Arc::new(r.iter().map(|(_, w)| *w).collect::<Vec<bool>>());
        let base = scripted(atts, ());
        a = a.reconcile(move |ctx: StepContext| {
            let ok = within
                .get(ctx.attempt as usize - 1)
                .copied()
                .unwrap_or(true);
            let fut = base(ctx);
            async move {
                fut.await.map(|()| Reconciliation {
                    counts: vec![CountCheck::new("rows", 1000, if ok { 1000 } else { 900 })],
                    consumer_lag: None,
                })
            }
        });
    }
    Orchestrator::new(cfg, a).unwrap()
}

fn observe(report: &FailoverReport) -> Expected {
    let phase = match &report.outcome {
        FailoverOutcome::Aborted { phase, .. } | FailoverOutcome::Failed { phase, .. } => {
            Some(*phase)
        }
        _ => None,
    };
    let total = match report.timeline.last().map(|e| (&e.event, e.at)) {
        Some((FailoverEvent::Finished { .. }, at)) => at,
        other => panic!("timeline does not end with Finished: {other:?}"),
    };
    Expected {
        outcome: (report.outcome.as_str(), phase),
        phases: report
            .phases
            .iter()
            .map(|p| (p.phase, p.attempts, p.succeeded, p.took.as_secs()))
            .collect(),
        total: total.as_secs(),
        switched: report.outcome.switched(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn orchestrator_matches_reference_model(s in script()) {
        let expected = Model { s: &s, t: 0, phases: Vec::new() }.run();
        let o = build(&s);
        let report = runtime().block_on(o.failover(Trigger::new("model"))).unwrap();
        let got = observe(&report);
        prop_assert_eq!(&got, &expected, "\n{}", report.render());
        prop_assert_eq!(o.active_site() == "secondary", expected.switched);
        // Attempt failures in the timeline never exceed the attempts allowed.
        let failures = report.timeline.iter().filter(|e| matches!(e.event, FailoverEvent::AttemptFailed { .. })).count();
        let bound: usize = report.phases.iter().map(|p| if p.phase == Phase::Prepare { s.prepare.len() * s.attempts as usize } else { p.attempts as usize }).sum();
        prop_assert!(failures <= bound);
    }
}

// ------------------------------------------------------------ run sequences

#[derive(Debug, Clone, Copy)]
enum Cmd {
    Failover,
    Failback,
    Advance(u64),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Direction and anti-flap rules over sequences of requests.
    #[test]
    fn run_sequences_follow_direction_and_anti_flap(
        window in 0u64..100,
        cmds in prop::collection::vec(prop_oneof![
            2 => Just(Cmd::Failover), 2 => Just(Cmd::Failback), 3 => (0u64..60).prop_map(Cmd::Advance)
        ], 1..40),
    ) {
        let cfg = FailoverConfig {
            require_approval: false,
            propagation_wait: Duration::ZERO,
            anti_flap_window: Duration::from_secs(window),
            ..Default::default()
        };
        let o = Orchestrator::new(cfg, FailoverActions::new(
            |_| async { Ok::<(), &str>(()) }, |_| async { Ok::<(), &str>(()) })
            .approve(|_| async { Ok::<_, &str>(Approval::approved("validator")) })).unwrap();
        let rt = runtime();
        let (mut on_secondary, mut last_switch, mut now) = (false, None::<u64>, 0u64);
        for c in cmds {
            let (dir, wrong) = match c {
                Cmd::Advance(s) => {
                    rt.block_on(tokio::time::advance(Duration::from_secs(s)));
                    now += s;
                    continue;
                }
                Cmd::Failover => (Direction::Failover, on_secondary),
                Cmd::Failback => (Direction::Failback, !on_secondary),
            };
            let got = rt.block_on(async {
                match dir {
                    Direction::Failover => o.failover(Trigger::new("seq")).await,
                    _ => o.failback(Trigger::new("seq")).await,
                }
            });
            if wrong {
                prop_assert!(matches!(got, Err(FailoverError::WrongSite { .. })), "{:?}", got);
            } else if let Some(t) = last_switch.filter(|t| now - t < window) {
                match got {
                    Err(FailoverError::AntiFlap { retry_in }) => prop_assert_eq!(retry_in.as_secs(), window - (now - t)),
                    other => prop_assert!(false, "expected anti-flap, got {:?}", other),
                }
            } else {
                prop_assert_eq!(got.unwrap().outcome, FailoverOutcome::Completed);
                on_secondary = !on_secondary;
                last_switch = Some(now);
            }
            prop_assert_eq!(o.active_site(), if on_secondary { "secondary" } else { "primary" });
        }
    }
}
