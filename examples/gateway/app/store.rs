//! Where dead-lettered internal jobs wait: the in-memory queue (the
//! default), or a durable store on PostgreSQL or Redis
//! (`--dead-letters postgres://…` / `redis://…`), which keeps them across a
//! gateway restart and lets several gateways share the replay work.
//!
//! The experiments run on a paused tokio clock, where waiting for a network
//! reply would let virtual time jump ahead. A durable store's calls
//! therefore run on a small real-time runtime of their own, reached through
//! `spawn_blocking` (which holds the paused clock still while it runs): a
//! store call takes no virtual time. The store's server judges retry
//! backoffs by its own (real) clock, which cannot follow virtual time: in
//! the experiments a failed replay is released for an immediate retry and
//! the replayer's 5 s period paces the retries, as with the in-memory
//! queue.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use resilience_core::clock::TokioClock;
use resilience_core::config::ConfigError;
use resilience_core::dead_letter::{
    ClaimOptions, ClaimedLetter, DeadLetter, DeadLetterError, DeadLetterStore,
    InMemoryDeadLetterQueue, LetterId, NewLetter, Purge, QueueStats, Receipt, Release, StoreError,
    StoreFuture, StoredLetter,
};
#[cfg(feature = "store-postgres")]
use resilience_store::{
    connection::PostgresConfig, dead_letter::postgres::PostgresDeadLetterStore,
};
#[cfg(feature = "store-redis")]
use resilience_store::{connection::RedisConfig, dead_letter::redis::RedisDeadLetterStore};
use serde::{Deserialize, Serialize};

use super::model::{Job, Model, TrafficClass};

/// The durable queue's name.
pub(crate) const QUEUE: &str = "gateway_internal_jobs";

/// A job as the durable stores keep it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredJob {
    model: Model,
    class: TrafficClass,
    prompt: String,
    high_res: bool,
}

impl From<Job> for StoredJob {
    fn from(j: Job) -> StoredJob {
        StoredJob {
            model: j.model,
            class: j.class,
            prompt: j.prompt.to_string(),
            high_res: j.high_res,
        }
    }
}

impl From<StoredJob> for Job {
    fn from(s: StoredJob) -> Job {
        Job {
            model: s.model,
            class: s.class,
            prompt: Arc::from(s.prompt),
            high_res: s.high_res,
            avoid: None,
        }
    }
}

/// The gateway's dead-letter queue.
#[derive(Clone)]
pub(crate) enum DeadLetters {
    /// In process memory (the default).
    Memory(Arc<InMemoryDeadLetterQueue<DeadLetter<Job>>>),
    /// PostgreSQL or Redis.
    Durable(Arc<dyn DeadLetterStore<Job>>),
}

static DURABLE: OnceLock<Arc<dyn DeadLetterStore<Job>>> = OnceLock::new();

/// Connects the durable store named by `url` (`postgres://…`,
/// `postgresql://…` or `redis://…`); the gateways started afterwards use it.
/// `empty` purges the queue first (the experiments start from nothing).
pub(crate) fn use_durable(url: &str, empty: bool) -> Result<String, String> {
    let rt = runtime()?;
    let store: Arc<dyn DeadLetterStore<StoredJob>> = rt.block_on(connect(url))?;
    if empty {
        rt.block_on(store.purge(Purge::All))
            .map_err(|e| e.to_string())?;
    }
    let backend = if url.starts_with("redis://") {
        "Redis Streams"
    } else {
        "PostgreSQL"
    };
    let _ = DURABLE.set(Arc::new(RealTime {
        inner: store,
        virtual_time: empty,
    }));
    Ok(format!("{backend} (queue {QUEUE})"))
}

/// Connects the store a URL names, if this build has its backend (the
/// features `store-postgres` and `store-redis`, off by default so that the
/// demo's first build stays light).
async fn connect(url: &str) -> Result<Arc<dyn DeadLetterStore<StoredJob>>, String> {
    #[cfg(any(feature = "store-postgres", feature = "store-redis"))]
    let queue = || resilience_store::dead_letter::QueueConfig::new(QUEUE).with_capacity(10_000);
    if url.starts_with("redis://") {
        #[cfg(feature = "store-redis")]
        {
            let store = RedisDeadLetterStore::<StoredJob>::connect(&RedisConfig::new(url), queue())
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Arc::new(store));
        }
        #[cfg(not(feature = "store-redis"))]
        return Err(format!(
            "{url}: this build has no Redis store; run the demo with `--features store-redis`"
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "store-postgres")]
        {
            let store =
                PostgresDeadLetterStore::<StoredJob>::connect(&PostgresConfig::new(url), queue())
                    .await
                    .map_err(|e| e.to_string())?;
            return Ok(Arc::new(store));
        }
        #[cfg(not(feature = "store-postgres"))]
        return Err(format!(
            "{url}: this build has no PostgreSQL store; run the demo with `--features store-postgres`"
        ));
    }
    Err(format!(
        "{url}: expected a postgres://, postgresql:// or redis:// URL"
    ))
}

/// The queue for a new gateway: the durable store when one was connected,
/// else a fresh in-memory queue on tokio's clock.
pub(crate) fn dead_letters() -> Result<DeadLetters, ConfigError> {
    match DURABLE.get() {
        Some(store) => Ok(DeadLetters::Durable(store.clone())),
        None => Ok(DeadLetters::Memory(Arc::new(
            InMemoryDeadLetterQueue::with_clock("internal_jobs", 10_000, TokioClock)?,
        ))),
    }
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeadLetters::Memory(q) => q.fmt(f),
            DeadLetters::Durable(s) => write!(f, "Durable({})", s.queue_name()),
        }
    }
}

impl DeadLetters {
    /// Letters still to be replayed (for a durable store: one round trip).
    pub(crate) fn len(&self) -> usize {
        match self {
            DeadLetters::Memory(q) => q.len(),
            DeadLetters::Durable(store) => {
                let store = store.clone();
                // Blocks this thread (the paused clock does not move) for a
                // round trip on the real-time runtime.
                std::thread::scope(|s| {
                    s.spawn(|| {
                        runtime()
                            .ok()
                            .and_then(|rt| rt.block_on(store.stats()).ok())
                            .map_or(0, |st| usize::try_from(st.depth()).unwrap_or(usize::MAX))
                    })
                    .join()
                    .unwrap_or(0)
                })
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dead-letter-store")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A store of [`StoredJob`]s, seen as a store of [`Job`]s whose calls run
/// on the real-time runtime.
struct RealTime {
    inner: Arc<dyn DeadLetterStore<StoredJob>>,
    /// The gateway runs on a paused clock (the experiments).
    virtual_time: bool,
}

/// Runs `f(store)` on the real-time runtime, holding the caller's (paused)
/// clock still.
async fn on_real_time<T, F, Fut>(
    store: &Arc<dyn DeadLetterStore<StoredJob>>,
    f: F,
) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(Arc<dyn DeadLetterStore<StoredJob>>) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let store = store.clone();
    let rt = runtime()?;
    tokio::task::spawn_blocking(move || rt.block_on(f(store)))
        .await
        .map_err(|e| e.to_string())
}

impl RealTime {
    fn fail(&self, e: String) -> StoreError {
        StoreError::Unavailable {
            backend: "gateway",
            queue: QUEUE.into(),
            reason: e,
        }
    }
}

impl DeadLetterStore<Job> for RealTime {
    fn queue_name(&self) -> &str {
        QUEUE
    }

    fn enqueue(
        &self,
        letter: NewLetter<Job>,
    ) -> StoreFuture<'_, Result<LetterId, DeadLetterError<Job>>> {
        Box::pin(async move {
            let job = letter.item.clone();
            let stored = NewLetter::new(StoredJob::from(letter.item), letter.reason)
                .with_idempotency_key(letter.idempotency_key);
            match on_real_time(&self.inner, move |s| async move { s.enqueue(stored).await }).await {
                Ok(result) => result.map_err(|e| e.map_item(Job::from)),
                Err(reason) => Err(DeadLetterError::Unavailable { item: job, reason }),
            }
        })
    }

    fn claim(
        &self,
        options: ClaimOptions,
    ) -> StoreFuture<'_, Result<Vec<ClaimedLetter<Job>>, StoreError>> {
        Box::pin(async move {
            let claimed = on_real_time(&self.inner, move |s| async move { s.claim(options).await })
                .await
                .map_err(|e| self.fail(e))??;
            Ok(claimed
                .into_iter()
                .map(|c| {
                    let (letter, receipt) = c.into_parts();
                    ClaimedLetter::new(letter.map(Job::from), receipt)
                })
                .collect())
        })
    }

    fn ack(&self, receipt: Receipt) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            on_real_time(&self.inner, move |s| async move { s.ack(receipt).await })
                .await
                .map_err(|e| self.fail(e))?
        })
    }

    fn release(
        &self,
        receipt: Receipt,
        release: Release,
    ) -> StoreFuture<'_, Result<(), StoreError>> {
        let release = match release {
            Release::Retry { error, .. } if self.virtual_time => Release::Retry {
                after: std::time::Duration::ZERO,
                error,
            },
            other => other,
        };
        Box::pin(async move {
            on_real_time(&self.inner, move |s| async move {
                s.release(receipt, release).await
            })
            .await
            .map_err(|e| self.fail(e))?
        })
    }

    fn stats(&self) -> StoreFuture<'_, Result<QueueStats, StoreError>> {
        Box::pin(async move {
            on_real_time(&self.inner, |s| async move { s.stats().await })
                .await
                .map_err(|e| self.fail(e))?
        })
    }

    fn parked(&self, limit: usize) -> StoreFuture<'_, Result<Vec<StoredLetter<Job>>, StoreError>> {
        Box::pin(async move {
            let parked = on_real_time(&self.inner, move |s| async move { s.parked(limit).await })
                .await
                .map_err(|e| self.fail(e))??;
            Ok(parked.into_iter().map(|l| l.map(Job::from)).collect())
        })
    }

    fn purge(&self, purge: Purge) -> StoreFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            on_real_time(&self.inner, move |s| async move { s.purge(purge).await })
                .await
                .map_err(|e| self.fail(e))?
        })
    }
}
