//! Model test for the degradation state machine with hysteresis: random
//! reports, clock advances, ticks and manual floors, checked against a
//! history-based reference model and against the rules directly:
//! degradation is immediate, recovery is one level at a time, and no
//! recovery step comes sooner than `recover_after` after the previous change.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use resilience_core::clock::{Clock, ManualClock};
use resilience_core::degradation::{
    ComponentConfig, ComponentHealth, Condition, DegradationConfig, DegradationEvent,
    DegradationManager, DegradationRuleConfig,
};

const THRESHOLDS: [f64; 5] = [0.9, 0.7, 0.5, 0.3, 0.1];
const WEIGHTS: [f64; 2] = [3.0, 1.0];
/// Rule: component `b` down -> level 3.
const RULE_LEVEL: u8 = 3;

fn level_for(score: f64) -> u8 {
    THRESHOLDS.iter().position(|&t| score > t).unwrap_or(5) as u8
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Report(usize, ComponentHealth),
    Tick,
    Floor(Option<u8>),
}

fn health() -> impl Strategy<Value = ComponentHealth> {
    prop_oneof![
        Just(ComponentHealth::Healthy),
        Just(ComponentHealth::Degraded),
        Just(ComponentHealth::Down),
        (0..=20u32).prop_map(|s| ComponentHealth::Score(f64::from(s) / 20.0)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..40u64).prop_map(Op::Advance),
        4 => (0..2usize, health()).prop_map(|(c, h)| Op::Report(c, h)),
        2 => Just(Op::Tick),
        1 => prop_oneof![Just(None), (0..6u8).prop_map(Some)].prop_map(Op::Floor),
    ]
}

/// The reference: remembers every evaluation and derives the level from
/// the history instead of keeping a timer.
struct Model {
    margin: f64,
    recover_after: Duration,
    health: [ComponentHealth; 2],
    floor: Option<u8>,
    level: u8,
    last_change: Option<Instant>,
    /// (time, level the inputs allow with the margin) of every evaluation.
    history: Vec<(Instant, u8)>,
}

impl Model {
    fn targets(&self) -> (u8, u8) {
        let score = |h: ComponentHealth| h.score(0.5);
        let overall = (WEIGHTS[0] * score(self.health[0]) + WEIGHTS[1] * score(self.health[1]))
            / (WEIGHTS[0] + WEIGHTS[1]);
        let b = self.health[1];
        let rule = if b == ComponentHealth::Down || score(b) <= 0.0 {
            RULE_LEVEL
        } else {
            0
        };
        let floor = self.floor.unwrap_or(0);
        let target = level_for(overall).max(rule).max(floor);
        let recovery = level_for(overall - self.margin)
            .max(rule)
            .max(floor)
            .max(target);
        (target, recovery)
    }

    fn evaluate(&mut self, now: Instant) {
        let (target, recovery) = self.targets();
        self.history.push((now, recovery));
        if target > self.level {
            self.level = target;
            self.last_change = Some(now);
            return;
        }
        if recovery >= self.level {
            return;
        }
        // Start of the unbroken run of evaluations allowing a better level.
        let mut start = now;
        for &(t, r) in self.history.iter().rev() {
            if r >= self.level || self.last_change.is_some_and(|c| t < c) {
                break;
            }
            start = t;
        }
        if now.duration_since(start) >= self.recover_after {
            self.level -= 1;
            self.last_change = Some(now);
        }
    }
}

fn run(ops: Vec<Op>, margin: f64, recover_after: Duration, initial_b: f64) {
    let mut config = DegradationConfig::default();
    config
        .components
        .insert("a".into(), ComponentConfig::weighted(WEIGHTS[0]));
    config.components.insert(
        "b".into(),
        ComponentConfig {
            weight: WEIGHTS[1],
            initial: initial_b,
        },
    );
    config.rules.push(DegradationRuleConfig {
        name: "b_down".into(),
        component: "b".into(),
        when: Condition::Down,
        level: "level_3".into(),
    });
    config.hysteresis.margin = margin;
    config.hysteresis.recover_after = recover_after;
    let clock = ManualClock::new();
    let m = DegradationManager::with_clock(config, clock.clone()).unwrap();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let sink = changes.clone();
    m.listeners().add_fn(move |e: &DegradationEvent| {
        sink.lock()
            .unwrap()
            .push((e.snapshot.at, e.previous.severity(), e.current.severity()));
    });
    let ids = [m.component("a").unwrap(), m.component("b").unwrap()];

    let mut model = Model {
        margin,
        recover_after,
        health: [
            ComponentHealth::Score(1.0),
            ComponentHealth::Score(initial_b),
        ],
        floor: None,
        level: 0,
        last_change: None,
        history: Vec::new(),
    };
    model.level = model.targets().0;
    assert_eq!(m.severity(), model.level, "initial level");

    for op in ops {
        match op {
            Op::Advance(s) => clock.advance(Duration::from_secs(s)),
            Op::Report(c, h) => {
                m.report(ids[c], h).unwrap();
                model.health[c] = h;
                model.evaluate(clock.now());
            }
            Op::Tick => {
                m.tick();
                model.evaluate(clock.now());
            }
            Op::Floor(f) => {
                let name = f.map(|s| m.thresholds().level(s).unwrap().name().to_string());
                m.set_manual_floor(name.as_deref()).unwrap();
                model.floor = f;
                model.evaluate(clock.now());
            }
        }
        assert_eq!(m.severity(), model.level, "after {op:?}");
        assert!(
            m.severity() >= model.targets().0,
            "degradation must be immediate"
        );
    }

    // The rules, read off the event log directly.
    let changes = changes.lock().unwrap();
    let mut last: Option<Instant> = None;
    for &(at, from, to) in changes.iter() {
        assert_ne!(from, to);
        if to < from {
            assert_eq!(from - to, 1, "recovery is one level at a time");
            if let Some(prev) = last {
                assert!(
                    at.duration_since(prev) >= recover_after,
                    "recovered {:?} after the previous change, faster than {:?}",
                    at.duration_since(prev),
                    recover_after
                );
            }
        }
        last = Some(at);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hysteresis_matches_model(
        ops in proptest::collection::vec(op(), 1..150),
        margin in prop_oneof![Just(0.0), Just(0.05), Just(0.08)],
        recover_secs in 0..60u64,
        initial_b in prop_oneof![Just(1.0), Just(0.4), Just(0.0)],
    ) {
        run(ops, margin, Duration::from_secs(recover_secs), initial_b);
    }
}

/// With `recovery: immediate` the level is a function of the inputs alone:
/// after every evaluation it is exactly what they call for (with the margin
/// on the way back), whatever came before.
fn run_immediate(ops: Vec<Op>, margin: f64) {
    let mut config = DegradationConfig::default();
    config
        .components
        .insert("a".into(), ComponentConfig::weighted(WEIGHTS[0]));
    config
        .components
        .insert("b".into(), ComponentConfig::weighted(WEIGHTS[1]));
    config.rules.push(DegradationRuleConfig {
        name: "b_down".into(),
        component: "b".into(),
        when: Condition::Down,
        level: "level_3".into(),
    });
    config.hysteresis.margin = margin;
    config.hysteresis.recovery = resilience_core::degradation::RecoveryMode::Immediate;
    let clock = ManualClock::new();
    let m = DegradationManager::with_clock(config, clock.clone()).unwrap();
    let ids = [m.component("a").unwrap(), m.component("b").unwrap()];
    let mut model = Model {
        margin,
        recover_after: Duration::ZERO,
        health: [ComponentHealth::Score(1.0), ComponentHealth::Score(1.0)],
        floor: None,
        level: 0,
        last_change: None,
        history: Vec::new(),
    };
    for op in ops {
        match op {
            Op::Advance(s) => clock.advance(Duration::from_secs(s)),
            Op::Report(c, h) => {
                m.report(ids[c], h).unwrap();
                model.health[c] = h;
            }
            Op::Tick => {
                m.tick();
            }
            Op::Floor(f) => {
                let name = f.map(|s| m.thresholds().level(s).unwrap().name().to_string());
                m.set_manual_floor(name.as_deref()).unwrap();
                model.floor = f;
            }
        }
        if matches!(op, Op::Advance(_)) {
            continue;
        }
        let (target, recovery) = model.targets();
        // Degrade to `target` at once; recover straight to `recovery`.
        model.level = if target > model.level {
            target
        } else {
            recovery.min(model.level)
        };
        assert_eq!(m.severity(), model.level, "after {op:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn immediate_recovery_follows_the_inputs(
        ops in proptest::collection::vec(op(), 1..150),
        margin in prop_oneof![Just(0.0), Just(0.05)],
    ) {
        run_immediate(ops, margin);
    }
}
