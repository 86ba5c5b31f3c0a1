//! Behaviour tests for `resilience_core::degradation`, every rule on
//! `ManualClock`, plus the contract block of the issue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use resilience_core::clock::ManualClock;
use resilience_core::config::from_yaml_str;
use resilience_core::degradation::{
    ComponentConfig, ComponentHealth, Condition, DegradationConfig, DegradationError,
    DegradationEvent, DegradationLevel, DegradationManager, DegradationRuleConfig,
    HealthThresholds, LevelConfig,
};
use resilience_core::presets;

#[test]
fn contract() {
    let t = HealthThresholds::default();
    assert_eq!(t.level_for(0.95).severity(), 0); // Normal
    assert_eq!(t.level_for(0.05).severity(), 5); // most degraded
    let _: DegradationLevel = t.level_for(0.5);
}

fn manager(
    config: DegradationConfig,
) -> (
    DegradationManager,
    ManualClock,
    Arc<Mutex<Vec<DegradationEvent>>>,
) {
    let clock = ManualClock::new();
    let m = DegradationManager::with_clock(config, clock.clone()).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    m.listeners()
        .add_fn(move |e: &DegradationEvent| sink.lock().unwrap().push(e.clone()));
    (m, clock, events)
}

/// Default levels, one component of weight 1, no margin, 30 s recovery.
fn single() -> DegradationConfig {
    let mut c = DegradationConfig::default();
    c.components
        .insert("app".into(), ComponentConfig::weighted(1.0));
    c
}

#[test]
fn weighted_average_selects_the_default_levels() {
    let mut c = DegradationConfig::default();
    c.components
        .insert("gpu".into(), ComponentConfig::weighted(3.0));
    c.components
        .insert("db".into(), ComponentConfig::weighted(1.0));
    let (m, _, _) = manager(c);
    // (3 * 0.5 + 1 * 1.0) / 4 = 0.625 -> level 2
    m.report_by_name("gpu", ComponentHealth::Score(0.5))
        .unwrap();
    assert_eq!(m.snapshot().overall, 0.625);
    assert_eq!(m.severity(), 2);
    // Down counts 0, Degraded counts degraded_score (0.5): (0 + 0.5) / 4 -> level 4
    m.report_all(&[
        (m.component("gpu").unwrap(), ComponentHealth::Down),
        (m.component("db").unwrap(), ComponentHealth::Degraded),
    ])
    .unwrap();
    assert_eq!(m.snapshot().overall, 0.125);
    assert_eq!(m.level().severity(), 4);
}

#[test]
fn every_default_threshold_is_strict() {
    for (score, severity) in [(0.95, 0), (0.8, 1), (0.6, 2), (0.4, 3), (0.2, 4), (0.05, 5)] {
        let (m, _, _) = manager(single());
        m.report_by_name("app", ComponentHealth::Score(score))
            .unwrap();
        assert_eq!(m.severity(), severity, "score {score}");
    }
}

#[test]
fn degrades_at_once_and_recovers_one_level_per_hold_period() {
    let (m, clock, events) = manager(single());
    m.report_by_name("app", ComponentHealth::Score(0.05))
        .unwrap();
    assert_eq!(m.severity(), 5, "degrading skips levels and is immediate");
    m.report_by_name("app", ComponentHealth::Healthy).unwrap();
    assert_eq!(m.severity(), 5);
    for expected in (0..5).rev() {
        clock.advance(Duration::from_secs(29));
        assert_eq!(
            m.tick().severity(),
            expected + 1,
            "not before the hold period"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(m.tick().severity(), expected, "one level per period");
    }
    let events = events.lock().unwrap();
    let steps: Vec<_> = events
        .iter()
        .map(|e| (e.previous.severity(), e.current.severity()))
        .collect();
    assert_eq!(steps, [(0, 5), (5, 4), (4, 3), (3, 2), (2, 1), (1, 0)]);
    assert!(!events[0].is_recovery());
    assert!(events[1].is_recovery());
}

#[test]
fn a_relapse_restarts_the_hold_period() {
    let (m, clock, _) = manager(single());
    m.report_by_name("app", ComponentHealth::Score(0.6))
        .unwrap(); // level 2
    m.report_by_name("app", ComponentHealth::Healthy).unwrap();
    clock.advance(Duration::from_secs(20));
    m.report_by_name("app", ComponentHealth::Score(0.6))
        .unwrap(); // still level 2: no change
    m.report_by_name("app", ComponentHealth::Healthy).unwrap();
    clock.advance(Duration::from_secs(20));
    assert_eq!(
        m.tick().severity(),
        2,
        "40 s in total, but only 20 s unbroken"
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(m.tick().severity(), 1);
}

#[test]
fn margin_must_be_cleared_to_recover() {
    let mut c = single();
    c.hysteresis.margin = 0.05;
    c.hysteresis.recover_after = Duration::from_secs(10);
    let (m, clock, _) = manager(c);
    m.report_by_name("app", ComponentHealth::Score(0.85))
        .unwrap();
    assert_eq!(m.severity(), 1);
    m.report_by_name("app", ComponentHealth::Score(0.93))
        .unwrap(); // > 0.9 but not > 0.95
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        m.tick().severity(),
        1,
        "inside the margin band: stays degraded"
    );
    m.report_by_name("app", ComponentHealth::Score(0.96))
        .unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(m.tick().severity(), 0);
}

#[test]
fn rules_fire_beside_the_score_and_the_strictest_wins() {
    let (m, clock, events) =
        manager(resilience_core::presets::workflow_runtime::degradation().unwrap());
    assert_eq!(m.level().name(), "full_operation");
    m.report_by_name("llm_service", ComponentHealth::Down)
        .unwrap();
    assert_eq!(m.level().name(), "ai_degraded");
    m.report_by_name("redis_cluster", ComponentHealth::Down)
        .unwrap();
    assert_eq!(m.level().name(), "cache_degraded");
    m.report_by_name("metadata_db_primary", ComponentHealth::Down)
        .unwrap();
    assert_eq!(m.level().name(), "read_only");
    let snap = m.snapshot();
    assert_eq!(snap.overall, 1.0, "rule-only inputs have weight 0");
    assert_eq!(snap.score_level.name(), "full_operation");
    assert_eq!(snap.rule_level.unwrap().name(), "read_only");
    assert_eq!(snap.triggered_rules.len(), 3);
    // The DB comes back; cache and LLM are still down: recover to cache_degraded only
    // (at once: the runtime recomputes its level on every evaluation).
    m.report_by_name("metadata_db_primary", ComponentHealth::Healthy)
        .unwrap();
    assert_eq!(m.level().name(), "cache_degraded");
    clock.advance(Duration::from_secs(300));
    assert_eq!(m.tick().name(), "cache_degraded", "redis still down");
    let last = events.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.previous.name(), "read_only");
    assert_eq!(last.current.name(), "cache_degraded");
    assert_eq!(last.snapshot.triggered_rules.len(), 2);
}

#[test]
fn rule_conditions() {
    let mut c = DegradationConfig::default();
    c.components
        .insert("a".into(), ComponentConfig::weighted(0.0));
    let rule = |name: &str, when, level: &str| DegradationRuleConfig {
        name: name.into(),
        component: "a".into(),
        when,
        level: level.into(),
    };
    c.rules = vec![
        rule("down", Condition::Down, "read_only"),
        rule("degraded", Condition::Degraded, "level_1"),
        rule("below", Condition::Below(0.4), "level_3"),
    ];
    c.hysteresis.recover_after = Duration::ZERO;
    let (m, _, _) = manager(c);
    let cases = [
        (ComponentHealth::Healthy, 0),
        (ComponentHealth::Score(1.0), 0),
        (ComponentHealth::Score(0.99), 1),
        (ComponentHealth::Degraded, 1),
        (ComponentHealth::Score(0.39), 3),
        (ComponentHealth::Score(0.0), 5),
        (ComponentHealth::Down, 5),
    ];
    for (health, severity) in cases {
        // Recovery is one level per evaluation here (recover_after 0): settle.
        m.report_by_name("a", ComponentHealth::Healthy).unwrap();
        for _ in 0..6 {
            m.tick();
        }
        assert_eq!(m.severity(), 0);
        m.report_by_name("a", health).unwrap();
        assert_eq!(m.severity(), severity, "{health:?}");
    }
}

#[test]
fn manual_floor_degrades_at_once_and_clears_through_hysteresis() {
    let mut stepwise = resilience_core::presets::workflow_runtime::degradation().unwrap();
    stepwise.hysteresis.recovery = resilience_core::degradation::RecoveryMode::Stepwise;
    stepwise.hysteresis.recover_after = Duration::from_secs(30);
    let (m, clock, _) = manager(stepwise);
    m.set_manual_floor(Some("maintenance")).unwrap();
    assert_eq!(m.level().name(), "maintenance");
    assert_eq!(m.snapshot().manual_floor.unwrap().name(), "maintenance");
    m.set_manual_floor(None).unwrap();
    assert_eq!(m.level().name(), "maintenance");
    clock.advance(Duration::from_secs(30));
    assert_eq!(m.tick().name(), "read_only");
    let e = m.set_manual_floor(Some("panic_mode")).unwrap_err();
    assert!(matches!(e, DegradationError::UnknownLevel { .. }));
    assert!(e
        .to_string()
        .contains("levels are: full_operation, ai_degraded"));
}

#[test]
fn feature_matrix_follows_the_level() {
    let (m, clock, _) = manager(resilience_core::presets::data_platform::degradation().unwrap());
    let ingest = m.feature("data_ingestion").unwrap();
    let mapping = m.feature("schema_mapping").unwrap();
    let healing = m.feature("self_healing").unwrap();
    let table = |m: &DegradationManager| {
        (
            m.mode(ingest).unwrap().to_string(),
            m.mode(mapping).unwrap().to_string(),
            m.is_enabled(mapping),
            m.mode(healing).unwrap().to_string(),
            m.is_enabled(healing),
        )
    };
    let row = |a: &str, b: &str, c: bool, d: &str, e: bool| {
        (a.to_string(), b.to_string(), c, d.to_string(), e)
    };
    assert_eq!(
        table(&m),
        row("full", "llm_embedding", true, "full_auto_heal", true)
    );
    m.report_by_name("llm_service", ComponentHealth::Degraded)
        .unwrap(); // high latency
    assert_eq!(
        table(&m),
        row("full", "embedding_only", true, "transient_only", true)
    );
    m.report_by_name("compute", ComponentHealth::Down).unwrap(); // compute exhausted
    assert_eq!(
        table(&m),
        row("pass_through", "manual", true, "manual", true)
    );
    m.report_by_name("pipeline_workers", ComponentHealth::Down)
        .unwrap(); // storage only
    assert_eq!(table(&m), row("buffer", "skip", false, "disable", false));
    assert_eq!(m.level().name(), "buffer_only");
    // Everything recovers: full AI at once (the level is recomputed on
    // every evaluation).
    m.report_all(
        &["llm_service", "compute", "pipeline_workers"]
            .map(|name| (m.component(name).unwrap(), ComponentHealth::Healthy)),
    )
    .unwrap();
    assert_eq!(m.level().name(), "full_ai");
    clock.advance(Duration::ZERO);
    assert_eq!(
        table(&m),
        row("full", "llm_embedding", true, "full_auto_heal", true)
    );
}

#[test]
fn broad_health_loss_degrades_the_data_platform_by_score() {
    let (m, _, _) = manager(resilience_core::presets::data_platform::degradation().unwrap());
    // compute 2 x 0.3, workers 2 x 0.3, storage 2 x 0.6, llm 1 x 1 = 3.4 / 7 = 0.486
    m.report_all(&[
        (m.component("compute").unwrap(), ComponentHealth::Score(0.3)),
        (
            m.component("pipeline_workers").unwrap(),
            ComponentHealth::Score(0.3),
        ),
        (m.component("storage").unwrap(), ComponentHealth::Score(0.6)),
    ])
    .unwrap();
    assert_eq!(m.level().name(), "minimal");
    assert!(m.snapshot().triggered_rules.is_empty());
}

#[test]
fn synthetic_data_platform_matrix_is_cumulative() {
    let expectations = [
        // (overall score, features that must be off)
        (1.0, vec![]),
        (0.8, vec!["optional_quality_checks"]),
        (
            0.6,
            vec![
                "optional_quality_checks",
                "diffusion_models",
                "transformer_models",
            ],
        ),
        (
            0.4,
            vec![
                "optional_quality_checks",
                "diffusion_models",
                "transformer_models",
                "streaming_generation",
            ],
        ),
        (
            0.2,
            vec![
                "optional_quality_checks",
                "diffusion_models",
                "transformer_models",
                "streaming_generation",
                "new_training",
            ],
        ),
        (
            0.0,
            vec![
                "optional_quality_checks",
                "diffusion_models",
                "transformer_models",
                "streaming_generation",
                "new_training",
                "generation",
                "writes",
            ],
        ),
    ];
    // Recovery is slow by design: a fresh manager per row.
    for (score, off) in expectations {
        let (m, _, _) = manager(resilience_core::presets::synthetic_data::degradation().unwrap());
        let sweep: Vec<_> = m
            .components()
            .map(|n| (m.component(n).unwrap(), ComponentHealth::Score(score)))
            .collect();
        m.report_all(&sweep).unwrap();
        for f in m.matrix().features() {
            assert_eq!(
                m.is_enabled_by_name(f),
                Some(!off.contains(&f)),
                "{f} at {score}"
            );
        }
    }
}

#[test]
fn custom_level_set_from_yaml() {
    let yaml = "
name: ai
levels:
  - { name: full_ai, above: 0.8 }
  - { name: reduced_ai, above: 0.5 }
  - { name: minimal, above: 0.2 }
  - { name: buffer_only }
components:
  llm: { weight: 1 }
";
    let c: DegradationConfig = from_yaml_str(yaml).unwrap();
    let (m, _, _) = manager(c);
    m.report_by_name("llm", ComponentHealth::Score(0.55))
        .unwrap();
    assert_eq!(m.level().name(), "reduced_ai");
    assert_eq!(m.thresholds().len(), 4);
    let custom =
        HealthThresholds::new(&[LevelConfig::above("on", 0.5), LevelConfig::last("off")]).unwrap();
    assert_eq!(custom.level_for(0.5).name(), "off");
}

#[test]
fn initial_scores_set_the_starting_level_without_an_event() {
    let mut c = DegradationConfig::default();
    c.components.insert(
        "cold".into(),
        ComponentConfig {
            weight: 1.0,
            initial: 0.6,
        },
    );
    let (m, _, events) = manager(c);
    assert_eq!(m.severity(), 2);
    assert!(events.lock().unwrap().is_empty());
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let (m, _, events) = manager(single());
    for bad in [f64::NAN, -0.1, 1.01, f64::INFINITY] {
        let e = m
            .report_by_name("app", ComponentHealth::Score(bad))
            .unwrap_err();
        assert!(matches!(e, DegradationError::InvalidScore { .. }), "{bad}");
    }
    assert!(m.report_by_name("nope", ComponentHealth::Down).is_err());
    let other = DegradationManager::new(single()).unwrap();
    let foreign = other.component("app").unwrap();
    assert!(matches!(
        m.report(foreign, ComponentHealth::Down).unwrap_err(),
        DegradationError::ForeignComponent { .. }
    ));
    // A batch with one bad report applies nothing.
    let app = m.component("app").unwrap();
    assert!(m
        .report_all(&[
            (app, ComponentHealth::Down),
            (app, ComponentHealth::Score(2.0))
        ])
        .is_err());
    assert_eq!(m.severity(), 0);
    assert!(events.lock().unwrap().is_empty());
}

#[test]
fn config_errors_name_the_field() {
    let check = |yaml: &str, field: &str| {
        let c: DegradationConfig = from_yaml_str(yaml).unwrap();
        let e = DegradationManager::new(c).unwrap_err();
        assert_eq!(e.field(), Some(field), "{yaml}: {e}");
    };
    check(
        "components: { db: { weight: .nan } }",
        "components.db.weight",
    );
    check(
        "components: { db: { initial: 2 } }",
        "components.db.initial",
    );
    check(
        "rules: [{ name: r, component: db, when: down, level: read_only }]",
        "rules[0].component",
    );
    check(
        "components: { db: {} }\nrules: [{ name: r, component: db, when: down, level: panic }]",
        "rules[0].level",
    );
    check(
        "components: { db: {} }\nrules: [{ name: r, component: db, when: { below: 3 }, level: read_only }]",
        "rules[0].when.below",
    );
    check("hysteresis: { margin: 0.1 }", "hysteresis.margin");
    check(
        "hysteresis: { recover_after: 30d }",
        "hysteresis.recover_after",
    );
    check(
        "features: { writes: { level_7: off } }",
        "features.writes.level_7",
    );
    check("degraded_score: 1.5", "degraded_score");
    check("levels: []", "levels");
    assert!(
        from_yaml_str::<DegradationConfig>("hysterisis: {}").is_err(),
        "typos are errors"
    );
}

#[test]
fn presets_load_from_their_yaml_files() {
    for (yaml, name) in [
        (
            presets::synthetic_data::DEGRADATION_YAML,
            "synthetic-data-platform",
        ),
        (presets::data_platform::DEGRADATION_YAML, "data-platform"),
        (
            presets::workflow_runtime::DEGRADATION_YAML,
            "workflow-runtime",
        ),
    ] {
        let c: DegradationConfig = from_yaml_str(yaml).unwrap();
        assert_eq!(c.name, name);
        DegradationManager::new(c).unwrap();
    }
}

#[test]
fn level_changes_set_the_gauge_and_count() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let mut c = single();
        c.name = "metered".into();
        c.hysteresis.recover_after = Duration::ZERO;
        let m = DegradationManager::new(c).unwrap();
        m.report_by_name("app", ComponentHealth::Score(0.6))
            .unwrap();
        m.report_by_name("app", ComponentHealth::Healthy).unwrap();
    });
    let snap = snapshotter.snapshot().into_vec();
    let get = |name: &str, extra: Option<(&str, &str)>| {
        snap.iter()
            .find(|(k, _, _, _)| {
                k.key().name() == name
                    && k.key()
                        .labels()
                        .any(|l| l.key() == "degradation" && l.value() == "metered")
                    && extra.is_none_or(|(ek, ev)| {
                        k.key().labels().any(|l| l.key() == ek && l.value() == ev)
                    })
            })
            .map(|(_, _, _, v)| v)
            .unwrap_or_else(|| panic!("missing {name}"))
    };
    // 0 -> 2 (degrade), then 2 -> 1 on the Healthy report (recover_after 0).
    assert!(
        matches!(get("resilience_degradation_level", None), DebugValue::Gauge(g) if g.into_inner() == 1.0)
    );
    assert!(
        matches!(get("resilience_degradation_health_score", None), DebugValue::Gauge(g) if g.into_inner() == 1.0)
    );
    assert!(
        matches!(get("resilience_degradation_component_score", Some(("component", "app"))), DebugValue::Gauge(g) if g.into_inner() == 1.0)
    );
    assert_eq!(
        get(
            "resilience_degradation_level_changes_total",
            Some(("direction", "degrade"))
        ),
        &DebugValue::Counter(1)
    );
    assert_eq!(
        get(
            "resilience_degradation_level_changes_total",
            Some(("direction", "recover"))
        ),
        &DebugValue::Counter(1)
    );
}

#[test]
fn preset_configs_round_trip_through_yaml_and_json() {
    for c in [
        resilience_core::presets::synthetic_data::degradation().unwrap(),
        resilience_core::presets::data_platform::degradation().unwrap(),
        resilience_core::presets::workflow_runtime::degradation().unwrap(),
    ] {
        let yaml = serde_norway::to_string(&c).unwrap();
        assert_eq!(from_yaml_str::<DegradationConfig>(&yaml).unwrap(), c);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            resilience_core::config::from_json_str::<DegradationConfig>(&json).unwrap(),
            c
        );
    }
}

#[test]
fn concurrent_reporters_and_readers() {
    let clock = ManualClock::new();
    let m = DegradationManager::with_clock(
        resilience_core::presets::data_platform::degradation().unwrap(),
        clock.clone(),
    )
    .unwrap();
    let changes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = changes.clone();
    m.listeners().add_fn(move |_: &DegradationEvent| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let mapping = m.feature("schema_mapping").unwrap();
    let valid = ["llm_embedding", "embedding_only", "manual", "skip"];
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    let mode = m.mode(mapping).unwrap();
                    assert!(valid.contains(&mode), "{mode}");
                    assert!(m.severity() < 4);
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                let names = ["llm_service", "compute", "pipeline_workers", "storage"];
                for i in 0..2_000 {
                    let h = if (i + t) % 3 == 0 {
                        ComponentHealth::Down
                    } else {
                        ComponentHealth::Healthy
                    };
                    m.report_by_name(names[(i + t) % 4], h).unwrap();
                    m.tick();
                }
            })
        })
        .collect();
    for h in writers.into_iter().chain(readers) {
        h.join().unwrap();
    }
    // Settle: everything healthy, enough hold periods to climb back.
    for name in ["llm_service", "compute", "pipeline_workers", "storage"] {
        m.report_by_name(name, ComponentHealth::Healthy).unwrap();
    }
    for _ in 0..4 {
        clock.advance(Duration::from_secs(120));
        m.tick();
    }
    assert!(m.level().is_normal());
    assert!(changes.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[test]
fn count_rules_with_bad_input_are_clear_errors() {
    let base = "components: { a: { weight: 0 }, b: { weight: 0 } }\n";
    for (rules, field) in [
        (
            "count_rules: [{ name: r, at_least: 0, when: down, level: level_2 }]",
            "count_rules[0].at_least",
        ),
        (
            "count_rules: [{ name: r, at_least: 3, when: down, level: level_2 }]",
            "count_rules[0].at_least",
        ),
        (
            "count_rules: [{ name: r, components: [c], at_least: 1, when: down, level: level_2 }]",
            "count_rules[0].components",
        ),
        (
            "count_rules: [{ name: r, at_least: 1, when: down, level: level_9 }]",
            "count_rules[0].level",
        ),
    ] {
        let c: DegradationConfig = from_yaml_str(&format!("{base}{rules}")).unwrap();
        assert_eq!(c.validate().unwrap_err().field(), Some(field), "{rules}");
    }
    let c: DegradationConfig = from_yaml_str(&format!(
        "{base}count_rules: [{{ name: both, components: [a, b], at_least: 2, when: degraded, level: level_2 }}]"
    ))
    .unwrap();
    let (m, _, _) = manager(c);
    m.report_by_name("a", ComponentHealth::Degraded).unwrap();
    assert_eq!(m.severity(), 0, "one of two degraded: the rule needs both");
    m.report_by_name("b", ComponentHealth::Score(0.9)).unwrap();
    assert_eq!(
        m.level().name(),
        "level_2",
        "both degraded: at least level 2"
    );
}
