//! Named pools with priorities under an optional shared cap.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::{Bulkhead, BulkheadSetConfig};
use crate::clock::{shared, Clock, SystemClock};
use crate::config::ConfigError;

/// Named bulkhead pools, optionally drawing from one shared cap.
///
/// Each pool is a full [`Bulkhead`] with its own limit, wait and queue, so
/// one kind of traffic cannot starve the others (the model-registry preset's dashboard, api
/// and internal pools). With a shared cap, a call also needs one of the
/// cap's permits; callers queued at the cap are served by their pool's
/// [`Priority`](super::Priority) (high first, FIFO within a priority), and
/// when the cap's queue is full a higher-priority caller takes the place of
/// the newest lower-priority one: low priority sheds first.
///
/// ```
/// use resilience_core::bulkhead::{BulkheadSet, BulkheadSetConfig, SharedCapConfig};
///
/// let mut config = resilience_core::presets::model_registry::bulkheads(); // dashboard 50, api 100, internal 30
/// config.shared_cap = Some(SharedCapConfig::new(120));
/// let set = BulkheadSet::new(config).unwrap();
///
/// let api = set.get("api").unwrap();
/// let permit = api.try_acquire().unwrap();
/// assert_eq!(set.shared_cap().unwrap().in_flight(), 1);
/// drop(permit);
/// assert!(set.get("batch").is_none());
/// assert_eq!(set.names().collect::<Vec<_>>(), ["api", "dashboard", "internal"]);
/// ```
#[derive(Clone)]
pub struct BulkheadSet {
    inner: Arc<Pools>,
}

struct Pools {
    pools: BTreeMap<Arc<str>, Bulkhead>,
    shared: Option<Bulkhead>,
}

impl BulkheadSet {
    /// Builds every pool (and the shared cap) from a validated config.
    ///
    /// ```
    /// use resilience_core::bulkhead::{BulkheadSet, BulkheadSetConfig};
    /// let err = BulkheadSet::new(BulkheadSetConfig::default()).unwrap_err();
    /// assert_eq!(err.field(), Some("pools"));
    /// ```
    pub fn new(config: BulkheadSetConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, SystemClock)
    }

    /// Like [`BulkheadSet::new`], with the clock used to measure waits.
    ///
    /// ```
    /// use resilience_core::bulkhead::BulkheadSet;
    /// use resilience_core::clock::ManualClock;
    /// let set = BulkheadSet::with_clock(resilience_core::presets::model_registry::bulkheads(), ManualClock::new()).unwrap();
    /// assert_eq!(set.len(), 3);
    /// ```
    pub fn with_clock(config: BulkheadSetConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        config.validate()?;
        let clock = shared(clock);
        let shared = config.shared_cap.as_ref().map(|cap| {
            Bulkhead::build(
                Arc::from(cap.name.as_str()),
                &cap.as_bulkhead_config(),
                None,
                clock.clone(),
            )
        });
        let pools = config
            .pools
            .iter()
            .map(|(name, pool)| {
                let name: Arc<str> = Arc::from(name.as_str());
                let bulkhead = Bulkhead::build(name.clone(), pool, shared.clone(), clock.clone());
                (name, bulkhead)
            })
            .collect();
        Ok(BulkheadSet {
            inner: Arc::new(Pools { pools, shared }),
        })
    }

    /// The pool called `name`.
    pub fn get(&self, name: &str) -> Option<&Bulkhead> {
        self.inner.pools.get(name)
    }

    /// The shared cap, when the set has one.
    pub fn shared_cap(&self) -> Option<&Bulkhead> {
        self.inner.shared.as_ref()
    }

    /// Pool names, in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner.pools.keys().map(|k| &**k)
    }

    /// The pools, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bulkhead)> + '_ {
        self.inner.pools.iter().map(|(k, v)| (&**k, v))
    }

    /// Number of pools.
    pub fn len(&self) -> usize {
        self.inner.pools.len()
    }

    /// Whether the set has no pools (never true for a set built from a
    /// valid config).
    pub fn is_empty(&self) -> bool {
        self.inner.pools.is_empty()
    }

    /// Whether two handles are the same set.
    pub fn ptr_eq(&self, other: &BulkheadSet) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// For code written when sets were shared as `Arc<BulkheadSet>`: a handle
/// to the same set.
impl From<Arc<BulkheadSet>> for BulkheadSet {
    fn from(shared: Arc<BulkheadSet>) -> Self {
        (*shared).clone()
    }
}

impl fmt::Debug for BulkheadSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadSet")
            .field("pools", &self.inner.pools.values().collect::<Vec<_>>())
            .field("shared_cap", &self.inner.shared)
            .finish()
    }
}
