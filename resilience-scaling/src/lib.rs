//! # resilience-scaling
//!
//! Autoscaling policy evaluators. Each evaluator takes metrics and time and
//! returns a replica count with the reason for it; none of them talks to a
//! cloud or a cluster (an [`Actuator`](actuator::Actuator) is where a host
//! plugs that in). Nothing here needs an async runtime: decisions take the
//! current [`Instant`](std::time::Instant) (and, for calendars, a
//! [`UtcTime`](schedule::UtcTime)) as arguments, so they replay exactly in
//! tests and in the [simulator](sim).
//!
//! ## Which evaluator when
//!
//! | you have | use | module |
//! |---|---|---|
//! | a Kubernetes `HorizontalPodAutoscaler` manifest, or want its exact semantics (tolerance, stabilization windows, Pods/Percent policies, `selectPolicy`) | [`Hpa`](hpa::Hpa) | [`hpa`] |
//! | rules like "queue_depth > 1000 for 2 min → +5" with cooldowns, increments, tier minimums | [`RuleEngine`](rules::RuleEngine) | [`rules`] |
//! | AWS-style alarms whose breach size picks the adjustment | [`StepScaling`](step::StepScaling) | [`step`] |
//! | one metric to hold at a target (CPU 50 %), out fast and in slowly | [`TargetTracking`](target_tracking::TargetTracking) | [`target_tracking`] |
//! | a known daily curve or calendar windows ("06:00 → 50 %") | [`Schedule`](schedule::Schedule), combined with any of the above (max wins) | [`schedule`] |
//! | a recurring daily/weekly load shape and slow-starting replicas | [`Predictor`](predictive::Predictor) | [`predictive`] |
//! | queue or stream consumers (lag in messages or seconds, partitions, scale to zero) | [`LagScaler`](lag::LagScaler) | [`lag`] |
//! | spot capacity: preemption warnings, on-demand / spot split and floor, job tiers, hourly cost cap, diversification | [`SpotManager`](spot::SpotManager) | [`spot`] |
//! | which GPU type a request should run on (hardware table, routing matrix) | [`GpuRouter`](gpu::GpuRouter) | [`gpu`] |
//! | each worker through warm-up (popular models) before traffic and drain (in-flight work) before termination | [`WorkerLifecycle`](lifecycle::WorkerLifecycle) | [`lifecycle`] |
//! | per-pool targets that must sum exactly (model mix, tiers) | [`Distribution`](distribution::Distribution) | [`distribution`] |
//! | a question "which policy is better for this traffic?" | [`Simulator`](sim::Simulator) + [`chart`](sim::chart) | [`sim`] |
//!
//! Reactive evaluators ([`hpa`], [`rules`], [`step`], [`target_tracking`],
//! [`lag`]) follow the load after it arrives; [`schedule`] and
//! [`predictive`] provision before it arrives and are meant to be combined
//! with a reactive one by taking the higher count
//! ([`Schedule::apply`](schedule::Schedule::apply),
//! [`sim::MaxOf`]).
//!
//! ## The platform presets
//!
//! `presets/` holds the reference platforms' configurations as YAML, each loading into its
//! evaluator: `runtime-engine-hpa.yaml` ([`Hpa`](hpa::Hpa)),
//! `gpu-pool-policy.yaml` and `ingestion-workers.yaml`
//! ([`RuleEngine`](rules::RuleEngine)), `gpu-pool-schedule.yaml`
//! ([`Schedule`](schedule::Schedule)), `ingestion-workers-predictive.yaml`
//! ([`Predictor`](predictive::Predictor)), `consumer-lag.yaml`
//! ([`LagScaler`](lag::LagScaler)) and `spot.yaml`
//! ([`SpotManager`](spot::SpotManager)). The component scaling tables of
//! the platforms are constructors in [`presets`] (one module per platform,
//! each row a [`RulePolicyConfig`](rules::RulePolicyConfig)).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use resilience_scaling::hpa::Hpa;
//! use resilience_scaling::rules::RuleEngine;
//! use resilience_scaling::schedule::{Schedule, UtcTime};
//!
//! // The Kubernetes contract.
//! let mut hpa = Hpa::from_manifest_yaml(include_str!("../presets/runtime-engine-hpa.yaml"))?;
//! let start = Instant::now();
//! hpa.decide(start, 20, 20); // the first decision records the current count
//! let now = start + Duration::from_secs(90);
//! hpa.record_scale_event(now - Duration::from_secs(30), 5); // a past scaling, 20 -> 25
//! let replicas: u32 = hpa.decide(now, 25, 60);
//! assert_eq!(replicas, 40); // +100 % per 60 s, from 20 at the period start
//!
//! // The GPU inference platform's pool: rules, then the schedule's floor (max wins).
//! let mut rules = RuleEngine::from_yaml(include_str!("../presets/gpu-pool-policy.yaml"))?;
//! let mut schedule = Schedule::from_yaml(include_str!("../presets/gpu-pool-schedule.yaml"))?;
//! let reactive = rules.evaluate_named(now, 40, &[("turbo_queue_depth", 3.0)]).replicas;
//! let ten_am = UtcTime::from_ymd_hms(2024, 6, 3, 10, 0, 0).unwrap();
//! assert_eq!(schedule.apply(ten_am, reactive).replicas, 100);
//! # Ok::<(), resilience_core::config::ConfigError>(())
//! ```
//!
//! ## How a host runs an evaluator
//!
//! On each tick (every 15 s is the HPA's default sync period), read the
//! metrics, ask the evaluator for a decision with the current time, and, when
//! the count changes, apply it through your [`Actuator`](actuator::Actuator)
//! (the Kubernetes scale subresource, an autoscaling group, a worker pool).
//! Evaluators keep their own history (stabilization windows, hold timers,
//! cooldowns), so call them on every tick, not only when something changed.
//! Every decision carries its reason (which metric or rule, which policy
//! limited it): log it beside the scale call.
//!
//! ## Configuration and testing
//!
//! Every policy is serde data (YAML, durations as `"2m"`), validated into a
//! [`ConfigError`](resilience_core::config::ConfigError) naming the field; the
//! HPA takes Kubernetes' own manifest and field names, with the API's
//! defaults. No manifest or value makes a constructor or a decision panic
//! (property tests feed arbitrary text and values). Because time is an
//! argument, tests replay a scenario by passing instants
//! (`start + Duration::from_secs(n)`), with no clock to mock; the
//! [simulator](sim) does the same for a whole week of traffic.
//!
//! ## Events and metrics
//!
//! [`Hpa`](hpa::Hpa), [`RuleEngine`](rules::RuleEngine),
//! [`StepScaling`](step::StepScaling),
//! [`TargetTracking`](target_tracking::TargetTracking) and
//! [`LagScaler`](lag::LagScaler) publish every decision that changes the
//! count to their `listeners()`, and report through the `metrics` facade:
//! `resilience_<evaluator>_desired_replicas` (gauge) and
//! `resilience_<evaluator>_scale_events_total` (counter, label `direction`),
//! plus `resilience_hpa_decisions_total`; the evaluator's name is a label.
//!
//! ## Features
//!
//! * `svg` (default): SVG charts of simulation runs through `plotters`'
//!   SVG backend (no font or system libraries needed).
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
// Every integer operation on configuration or input is checked, saturating
// or argued bounded (see `arith`); the lint keeps it that way. Test code,
// which builds its own small values, is exempt.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod actuator;
mod arith;
pub mod distribution;
pub mod gpu;
pub mod hpa;
pub mod lag;
pub mod lifecycle;
mod observe;
pub mod predictive;
pub mod presets;
pub mod rules;
pub mod schedule;
pub mod sim;
pub mod spot;
pub mod step;
pub mod target_tracking;

// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
