//! Errors shared by the layers.
//!
//! Every layer's `Service::Error` is [`tower::BoxError`], as in tower's own
//! middleware, so layers stack without nested error types and axum's
//! `HandleErrorLayer` accepts them. Each layer's own error is a concrete type
//! inside the box: find it with `downcast_ref`.
//!
//! ```
//! use resilience_core::circuit_breaker::CircuitOpen;
//! use tower::BoxError;
//!
//! fn status_for(err: &BoxError) -> u16 {
//!     if err.downcast_ref::<CircuitOpen>().is_some() {
//!         503
//!     } else {
//!         500
//!     }
//! }
//! # let _ = status_for;
//! ```

pub use tower::BoxError;

/// A response future was polled again after it completed (a bug in the
/// caller); reported as an error instead of a panic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("response future polled after completion")]
pub struct PolledAfterCompletion;
