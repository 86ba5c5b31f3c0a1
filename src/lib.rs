//! # resilience
//!
//! The facade of the `resilience` suite: one dependency, one feature per
//! crate.
//!
//! | feature | crate | re-exported as |
//! |---|---|---|
//! | `core` (default) | `resilience-core` | [`core`] |
//! | `tower` | `resilience-tower` | `tower` |
//! | `scaling` | `resilience-scaling` | `scaling` |
//! | `dr` | `resilience-dr` | `dr` |
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

#[cfg(feature = "core")]
#[doc(inline)]
pub use resilience_core as core;

#[cfg(feature = "tower")]
#[doc(inline)]
pub use resilience_tower as tower;

#[cfg(feature = "scaling")]
#[doc(inline)]
pub use resilience_scaling as scaling;

#[cfg(feature = "dr")]
#[doc(inline)]
pub use resilience_dr as dr;
