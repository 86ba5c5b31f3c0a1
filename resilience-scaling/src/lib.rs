//! # resilience-scaling
//!
//! Autoscaling policy evaluators. Each evaluator takes metrics and time and
//! returns a replica count with the reason for it; none of them talks to a
//! cloud or a cluster (an [`Actuator`](actuator::Actuator) is where a host
//! plugs that in). Nothing here needs an async runtime.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod actuator;
pub mod distribution;
pub mod hpa;
pub mod lag;
pub mod predictive;
pub mod rules;
pub mod schedule;
pub mod sim;
pub mod spot;
pub mod step;
pub mod target_tracking;
