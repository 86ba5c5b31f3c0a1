//! Durable dead-letter stores: the requests a breaker refused or a retry
//! gave up on, kept in PostgreSQL or Redis until a replayer delivers them.
//!
//! Both stores implement
//! [`DeadLetterStore`](resilience_core::dead_letter::DeadLetterStore) with
//! the same contract (at-least-once delivery with an idempotency key per
//! letter, leases that expire when a replayer dies, retries with backoff,
//! poison letters parked after `max_replays` deliveries, nothing dropped
//! when full). What differs:
//!
//! | | PostgreSQL | Redis Streams |
//! |---|---|---|
//! | durability | the database's (WAL, replication) | AOF (`appendonly yes`; `appendfsync everysec` can lose the last second on a power loss, `always` loses nothing) |
//! | lease | `lease_until` by the database's clock | idle time of the consumer group's pending entry (`XAUTOCLAIM` after the lease) |
//! | ordering | oldest first; per-key FIFO, one letter per key in flight | oldest first on first delivery; retried letters rejoin at the tail; no per-key order (the key is stored and returned) |
//! | capacity | optional (`capacity`): a `count(*)` per enqueue when set | optional: `XLEN` + `ZCARD` per enqueue, O(1) |
//! | oldest age | exact | the older of the heads of the ready and retry streams |
//! | enqueue | one `INSERT` | one script (`XADD`) |
//!
//! Replay throughput on this machine is in the repository's BENCHMARKS.md.
//!
//! # The stored letter
//!
//! The request as the host serialises it (a
//! [`LetterCodec`], by default
//! serde JSON with a version field) plus its metadata: idempotency key,
//! ordering key, reason, replay count, first and last failure, the last
//! error, and the next replay time. A payload above
//! [`max_payload_bytes`](QueueConfig::max_payload_bytes) is refused with
//! `DeadLetterError::TooLarge` (the request comes back to the caller); one
//! that no longer decodes (a deploy changed the request's shape without an
//! upgrade) is parked with the decode error.
//!
//! # Metrics
//!
//! The names of `resilience_core::dead_letter::store` (depth, in flight,
//! waiting, parked, oldest age; enqueued, replayed, retried, parked,
//! reclaimed, errors), labelled with the queue name, the same for both
//! backends and the in-memory queue.

use std::sync::Arc;

use resilience_core::config::ConfigError;
use resilience_core::dead_letter::{DeadLetterError, LetterCodec, StoreError, StoreMetrics};
use serde::{Deserialize, Serialize};

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;

const fn default_max_payload() -> usize {
    1024 * 1024
}

/// One durable queue: its name and limits (the same for every backend).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `name` | required | the queue (`[A-Za-z0-9_.-]`, up to 100 characters); many queues share one table or Redis |
/// | `capacity` | none | refuse letters beyond this many held (queued, claimed and parked) |
/// | `max_payload_bytes` | 1 MiB | refuse letters whose encoded request is larger |
///
/// ```
/// use resilience_store::dead_letter::QueueConfig;
/// let q = QueueConfig::new("retrain").with_capacity(100_000);
/// q.validate().unwrap();
/// assert_eq!(QueueConfig::new("a b").validate().unwrap_err().field(), Some("name"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The queue's name.
    pub name: String,
    /// Letters held at most (none: unbounded).
    #[serde(default)]
    pub capacity: Option<u64>,
    /// Encoded request size limit.
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: usize,
}

impl QueueConfig {
    /// A queue named `name`, unbounded, 1 MiB letters.
    pub fn new(name: impl Into<String>) -> QueueConfig {
        QueueConfig {
            name: name.into(),
            capacity: None,
            max_payload_bytes: default_max_payload(),
        }
    }

    /// Sets `capacity`.
    pub fn with_capacity(mut self, capacity: u64) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets `max_payload_bytes`.
    pub fn with_max_payload_bytes(mut self, limit: usize) -> Self {
        self.max_payload_bytes = limit;
        self
    }

    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::connection::check_key_part("name", &self.name)?;
        if self.capacity == Some(0) {
            return Err(ConfigError::invalid(
                "capacity",
                "must be at least 1, got 0: a queue that holds nothing would refuse every letter",
            ));
        }
        if self.max_payload_bytes == 0 || self.max_payload_bytes > 512 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "max_payload_bytes",
                format!(
                    "must be between 1 and 536870912 (512 MiB), got {}",
                    self.max_payload_bytes
                ),
            ));
        }
        Ok(())
    }
}

#[allow(dead_code)] // each backend uses a subset
pub(crate) fn unavailable(
    backend: &'static str,
    queue: &Arc<str>,
    reason: impl ToString,
) -> StoreError {
    StoreError::Unavailable {
        backend,
        queue: queue.clone(),
        reason: reason.to_string(),
    }
}

/// A letter's payload as the store keeps it: the codec's bytes, within the
/// queue's size limit. On failure the item goes back to the caller in the
/// error (nothing is lost) and the rejection is counted.
#[allow(dead_code)] // each backend uses it; neither may be compiled
pub(crate) fn encode_payload<T, C: LetterCodec<T>>(
    codec: &C,
    metrics: &StoreMetrics,
    queue: &Arc<str>,
    max_payload_bytes: usize,
    item: T,
) -> Result<(Vec<u8>, T), DeadLetterError<T>> {
    let bytes = match codec.encode(&item) {
        Ok(b) => b,
        Err(e) => {
            metrics.rejected();
            return Err(DeadLetterError::Unavailable {
                item,
                reason: e.to_string(),
            });
        }
    };
    if bytes.len() > max_payload_bytes {
        metrics.rejected();
        return Err(DeadLetterError::TooLarge {
            item,
            queue: queue.clone(),
            size: bytes.len(),
            limit: max_payload_bytes,
        });
    }
    Ok((bytes, item))
}

/// A random claim token (never 0).
#[allow(dead_code)]
pub(crate) fn token() -> u64 {
    rand::random::<u64>() >> 1 | 1
}
