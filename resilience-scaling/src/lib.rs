//! # resilience-scaling
//!
//! Autoscaling policy evaluators. This crate is being built; it has no
//! public items yet.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
