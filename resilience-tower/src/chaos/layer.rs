use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use metrics::Counter;
use parking_lot::RwLock;
use resilience_core::config::{check_unit_interval, ConfigError};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::{ChaosConfig, LatencyFault, ResponseFuture};

/// Which fault was injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Failed without calling the inner service.
    Error,
    /// The inner service ran; its response was discarded.
    Abort,
}

/// The error of a call that chaos failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("chaos: injected {} on call #{call}", match kind { FaultKind::Error => "error", FaultKind::Abort => "abort after the call ran" })]
pub struct InjectedFault {
    /// The fault.
    pub kind: FaultKind,
    /// The call's sequence number under the chaos handle (0-based).
    pub call: u64,
}

/// Counts of what a [`Chaos`] handle injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChaosStats {
    /// Calls seen while enabled.
    pub calls: u64,
    /// Injected errors.
    pub errors: u64,
    /// Injected aborts.
    pub aborts: u64,
    /// Delayed calls.
    pub delayed: u64,
}

/// The run-time switch of a chaos layer, shared by every service it made.
///
/// ```
/// use std::time::Duration;
/// use resilience_tower::chaos::{Chaos, ChaosConfig, LatencyFault};
/// let chaos = Chaos::new(ChaosConfig::default()).unwrap();
/// assert!(!chaos.is_enabled());
/// chaos.set_latency(Some(LatencyFault::fixed(1.0, Duration::from_millis(500)))).unwrap();
/// chaos.set_error_rate(0.1).unwrap();
/// assert!(chaos.set_abort_rate(2.0).is_err());
/// chaos.enable();
/// assert!(chaos.is_enabled());
/// ```
#[derive(Clone)]
pub struct Chaos {
    inner: Arc<Inner>,
}

struct Inner {
    enabled: AtomicBool,
    seed: u64,
    error_rate: AtomicU64,
    abort_rate: AtomicU64,
    latency: RwLock<Option<LatencyFault>>,
    calls: AtomicU64,
    errors: AtomicU64,
    aborts: AtomicU64,
    delayed: AtomicU64,
    m_error: Counter,
    m_abort: Counter,
    m_latency: Counter,
}

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    pub(crate) call: u64,
    pub(crate) error: bool,
    pub(crate) abort: bool,
    pub(crate) delay: Option<std::time::Duration>,
}

/// SplitMix64: a statelessly seekable generator, so the n-th call's draws
/// depend only on (seed, n).
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

impl Chaos {
    /// A handle from a validated config.
    pub fn new(config: ChaosConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Chaos {
            inner: Arc::new(Inner {
                enabled: AtomicBool::new(config.enabled),
                seed: config.seed,
                error_rate: AtomicU64::new(config.error_rate.to_bits()),
                abort_rate: AtomicU64::new(config.abort_rate.to_bits()),
                latency: RwLock::new(config.latency),
                calls: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                aborts: AtomicU64::new(0),
                delayed: AtomicU64::new(0),
                m_error: metrics::counter!("resilience_chaos_injected_total", "fault" => "error"),
                m_abort: metrics::counter!("resilience_chaos_injected_total", "fault" => "abort"),
                m_latency: metrics::counter!("resilience_chaos_injected_total", "fault" => "latency"),
            }),
        })
    }

    /// Starts injecting.
    pub fn enable(&self) {
        self.inner.enabled.store(true, Ordering::Release);
    }

    /// Stops injecting (calls pass through untouched).
    pub fn disable(&self) {
        self.inner.enabled.store(false, Ordering::Release);
    }

    /// Whether injecting.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Acquire)
    }

    /// Sets the error rate.
    pub fn set_error_rate(&self, rate: f64) -> Result<(), ConfigError> {
        check_unit_interval("error_rate", rate)?;
        self.inner
            .error_rate
            .store(rate.to_bits(), Ordering::Release);
        Ok(())
    }

    /// Sets the abort rate.
    pub fn set_abort_rate(&self, rate: f64) -> Result<(), ConfigError> {
        check_unit_interval("abort_rate", rate)?;
        self.inner
            .abort_rate
            .store(rate.to_bits(), Ordering::Release);
        Ok(())
    }

    /// Sets (or removes) the latency fault.
    pub fn set_latency(&self, latency: Option<LatencyFault>) -> Result<(), ConfigError> {
        if let Some(l) = &latency {
            l.validate()?;
        }
        *self.inner.latency.write() = latency;
        Ok(())
    }

    /// What was injected so far.
    pub fn stats(&self) -> ChaosStats {
        let i = &self.inner;
        ChaosStats {
            calls: i.calls.load(Ordering::Acquire),
            errors: i.errors.load(Ordering::Acquire),
            aborts: i.aborts.load(Ordering::Acquire),
            delayed: i.delayed.load(Ordering::Acquire),
        }
    }

    /// Decides the next call's faults; `None` when disabled.
    #[inline]
    pub(crate) fn decide(&self) -> Option<Decision> {
        if !self.inner.enabled.load(Ordering::Relaxed) {
            return None;
        }
        Some(self.decide_enabled())
    }

    #[cold]
    fn decide_enabled(&self) -> Decision {
        let i = &self.inner;
        let call = i.calls.fetch_add(1, Ordering::AcqRel);
        let base = splitmix(i.seed ^ splitmix(call));
        let draw = |k: u64| unit(splitmix(base.wrapping_add(k)));
        let error = draw(1) < f64::from_bits(i.error_rate.load(Ordering::Acquire));
        let abort = !error && draw(2) < f64::from_bits(i.abort_rate.load(Ordering::Acquire));
        let delay = match *i.latency.read() {
            Some(l) if draw(3) < l.rate => Some(l.sample(draw(4))),
            _ => None,
        };
        if error {
            i.errors.fetch_add(1, Ordering::Relaxed);
            i.m_error.increment(1);
        }
        if abort {
            i.aborts.fetch_add(1, Ordering::Relaxed);
            i.m_abort.increment(1);
        }
        if delay.is_some() {
            i.delayed.fetch_add(1, Ordering::Relaxed);
            i.m_latency.increment(1);
        }
        #[cfg(feature = "tracing")]
        if error || abort || delay.is_some() {
            tracing::debug!(call, error, abort, ?delay, "chaos: fault injected");
        }
        Decision {
            call,
            error,
            abort,
            delay,
        }
    }
}

impl fmt::Debug for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("enabled", &self.is_enabled())
            .field("seed", &self.inner.seed)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Injects faults in front of a service. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct ChaosLayer {
    chaos: Chaos,
}

impl ChaosLayer {
    /// A layer switched by `chaos`.
    pub fn new(chaos: Chaos) -> Self {
        ChaosLayer { chaos }
    }
}

impl<S> Layer<S> for ChaosLayer {
    type Service = ChaosService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ChaosService {
            inner,
            chaos: self.chaos.clone(),
        }
    }
}

/// A service with fault injection; made by [`ChaosLayer`].
#[derive(Debug, Clone)]
pub struct ChaosService<S> {
    inner: S,
    chaos: Chaos,
}

impl<S, Req> Service<Req> for ChaosService<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.chaos.decide() {
            None => ResponseFuture::passthrough(self.inner.call(req)),
            Some(d) if d.error => ResponseFuture::failed(InjectedFault {
                kind: FaultKind::Error,
                call: d.call,
            }),
            Some(d) => ResponseFuture::faulty(self.inner.call(req), d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions() {
        let config = ChaosConfig {
            enabled: true,
            seed: 99,
            error_rate: 0.3,
            abort_rate: 0.3,
            latency: Some(LatencyFault {
                rate: 0.5,
                delay: std::time::Duration::from_millis(10),
                max: Some(std::time::Duration::from_millis(50)),
                distribution: super::super::DelayDistribution::Uniform,
            }),
        };
        let a = Chaos::new(config.clone()).unwrap();
        let b = Chaos::new(config.clone()).unwrap();
        let c = Chaos::new(ChaosConfig {
            seed: 100,
            ..config
        })
        .unwrap();
        let da: Vec<_> = (0..500).map(|_| a.decide().unwrap()).collect();
        let db: Vec<_> = (0..500).map(|_| b.decide().unwrap()).collect();
        let dc: Vec<_> = (0..500).map(|_| c.decide().unwrap()).collect();
        assert_eq!(da, db);
        assert_ne!(da, dc);
        let errors = da.iter().filter(|d| d.error).count();
        let aborts = da.iter().filter(|d| d.abort).count();
        assert!((100..200).contains(&errors), "{errors}");
        // Aborts are drawn among the non-error calls: 0.3 × 0.7 ≈ 105.
        assert!((60..150).contains(&aborts), "{aborts}");
        assert!(da.iter().all(|d| !(d.error && d.abort)));
    }

    #[test]
    fn disabled_decides_nothing() {
        let c = Chaos::new(ChaosConfig {
            error_rate: 1.0,
            ..ChaosConfig::default()
        })
        .unwrap();
        assert_eq!(c.decide(), None);
        assert_eq!(c.stats(), ChaosStats::default());
    }
}
