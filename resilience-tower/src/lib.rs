//! # resilience-tower
//!
//! Tower layers for the `resilience-core` primitives. This crate is being
//! built; it has no public items yet.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
