use std::time::Instant;

use resilience_core::clock::Clock;

/// A [`Clock`] reading tokio's clock (`tokio::time::Instant`), so that core
/// primitives (a circuit breaker's open duration, a ratio retry budget's
/// window) move with `tokio::time::pause()` / `advance()` in tests, in step
/// with the layers' `tokio::time` timers.
///
/// Outside tests it is the system's monotonic clock, like
/// [`SystemClock`](resilience_core::clock::SystemClock).
///
/// ```
/// use std::time::Duration;
/// use resilience_core::clock::Clock;
/// use resilience_tower::timeout::TokioClock;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let t0 = TokioClock.now();
/// tokio::time::advance(Duration::from_secs(30)).await;
/// assert_eq!(TokioClock.now() - t0, Duration::from_secs(30));
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokioClock;

impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}
