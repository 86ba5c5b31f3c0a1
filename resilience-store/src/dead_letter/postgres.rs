//! The PostgreSQL dead-letter store (feature `postgres`).
//!
//! # The table (the migration)
//!
//! [`PostgresDeadLetterStore::connect`] runs this migration, idempotently
//! and under an advisory lock (so replicas starting together do not race);
//! [`migration_sql`] returns it for a migration tool. Many queues share the
//! table (`queue` column).
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS resilience_dead_letters (
//!     id              bigserial PRIMARY KEY,       -- enqueue order
//!     queue           text NOT NULL,
//!     state           smallint NOT NULL DEFAULT 0, -- 0 queued, 1 claimed, 2 parked
//!     idempotency_key text NOT NULL,
//!     ordering_key    text,
//!     reason          text NOT NULL,               -- DeadLetterReason::to_stored
//!     payload         bytea NOT NULL,              -- the codec's bytes
//!     replays         integer NOT NULL DEFAULT 0,  -- deliveries so far
//!     first_failed_at timestamptz NOT NULL DEFAULT now(),
//!     last_failed_at  timestamptz NOT NULL DEFAULT now(),
//!     next_attempt_at timestamptz NOT NULL DEFAULT now(),
//!     lease_until     timestamptz,                 -- while claimed
//!     claim_token     bigint,                      -- the claim's receipt
//!     last_error      text
//! );
//! CREATE INDEX IF NOT EXISTS resilience_dead_letters_live ON resilience_dead_letters (queue, id) WHERE state < 2;
//! CREATE INDEX IF NOT EXISTS resilience_dead_letters_ordering ON resilience_dead_letters (queue, ordering_key, id)
//!     WHERE ordering_key IS NOT NULL AND state < 2;
//! CREATE INDEX IF NOT EXISTS resilience_dead_letters_parked ON resilience_dead_letters (queue, id) WHERE state = 2;
//! ```
//!
//! # How each operation works
//!
//! - **claim**: first parks the letters whose lease expired after
//!   `max_replays` deliveries; then one statement picks due letters (queued
//!   and past `next_attempt_at`, or claimed under an expired lease) in id
//!   order with `FOR UPDATE SKIP LOCKED`, so concurrent replayers never wait
//!   for each other nor get the same letter, and marks them claimed with a
//!   fresh random `claim_token`, `lease_until = now() + lease` and
//!   `replays + 1`. A letter with an ordering key is picked only when no
//!   older letter with that key is queued or claimed (parked ones do not
//!   count): per-key FIFO, one in flight per key.
//! - **ack**: `DELETE ... WHERE id = $1 AND claim_token = $2`; no row means
//!   the lease was lost (`StoreError::LeaseLost`).
//! - **release**: an `UPDATE` under the same condition: back to queued with
//!   `next_attempt_at = now() + backoff`, back untried (`replays - 1`), or
//!   parked.
//! - Time is the database's `now()`: replayers' clocks never need to agree.
//!
//! A letter whose payload does not decode is parked during the claim, with
//! the codec's error as its `last_error`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resilience_core::dead_letter::{
    ClaimOptions, ClaimedLetter, DeadLetterError, DeadLetterEvent, DeadLetterReason,
    DeadLetterStore, JsonCodec, LetterCodec, LetterId, LetterState, NewLetter, Purge, QueueStats,
    Receipt, Release, StoreError, StoreFuture, StoreMetrics, StoreOp, StoredLetter,
};
use resilience_core::events::Listeners;
use tokio_postgres::{Client, Row, Statement};

use super::{token, unavailable, QueueConfig};
use crate::connection::pg::{Conn, Pool, Prepare};
use crate::connection::{ConnectError, PostgresConfig};

const BACKEND: &str = "postgres";

/// The migration for `table` (see the [module docs](self)).
///
/// ```
/// let sql = resilience_store::dead_letter::postgres::migration_sql("resilience_dead_letters");
/// assert!(sql.contains("CREATE TABLE IF NOT EXISTS resilience_dead_letters"));
/// ```
pub fn migration_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
    id              bigserial PRIMARY KEY,
    queue           text NOT NULL,
    state           smallint NOT NULL DEFAULT 0,
    idempotency_key text NOT NULL,
    ordering_key    text,
    reason          text NOT NULL,
    payload         bytea NOT NULL,
    replays         integer NOT NULL DEFAULT 0,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    claim_token     bigint,
    last_error      text
);
CREATE INDEX IF NOT EXISTS {table}_live ON {table} (queue, id) WHERE state < 2;
CREATE INDEX IF NOT EXISTS {table}_ordering ON {table} (queue, ordering_key, id)
    WHERE ordering_key IS NOT NULL AND state < 2;
CREATE INDEX IF NOT EXISTS {table}_parked ON {table} (queue, id) WHERE state = 2;
"
    )
}

const COLUMNS: &str = "id, idempotency_key, ordering_key, reason, payload, replays, \
    (extract(epoch from first_failed_at) * 1000)::int8, \
    (extract(epoch from last_failed_at) * 1000)::int8, last_error";

fn sql(t: &str) -> Vec<String> {
    vec![
        // 0 enqueue
        format!(
            "INSERT INTO {t} (queue, idempotency_key, ordering_key, reason, payload) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id"
        ),
        // 1 enqueue under a capacity
        format!(
            "INSERT INTO {t} (queue, idempotency_key, ordering_key, reason, payload) \
             SELECT $1, $2, $3, $4, $5 WHERE (SELECT count(*) FROM {t} WHERE queue = $1) < $6 \
             RETURNING id"
        ),
        // 2 park letters whose lease expired after max_replays deliveries
        format!(
            "UPDATE {t} SET state = 2, lease_until = NULL, claim_token = NULL, last_failed_at = now(), \
             last_error = 'its lease expired after ' || replays || ' deliveries without an acknowledgement (max_replays ' || $2::int4 || ')' \
             WHERE queue = $1 AND state = 1 AND lease_until <= now() AND replays >= $2::int4 RETURNING id"
        ),
        // 3 claim
        format!(
            "WITH picked AS ( \
               SELECT l.id, (l.state = 1) AS reclaimed FROM {t} l \
               WHERE l.queue = $1 AND l.state < 2 \
                 AND ((l.state = 0 AND l.next_attempt_at <= now()) OR (l.state = 1 AND l.lease_until <= now())) \
                 AND (l.ordering_key IS NULL OR NOT EXISTS ( \
                   SELECT 1 FROM {t} e WHERE e.queue = l.queue AND e.ordering_key = l.ordering_key \
                     AND e.state < 2 AND e.id < l.id)) \
               ORDER BY l.id LIMIT $2 \
               FOR UPDATE OF l SKIP LOCKED) \
             UPDATE {t} SET state = 1, replays = {t}.replays + 1, claim_token = $3, \
               lease_until = now() + make_interval(secs => $4::float8 / 1000.0) \
             FROM picked WHERE {t}.id = picked.id \
             RETURNING {t}.id, {t}.idempotency_key, {t}.ordering_key, {t}.reason, {t}.payload, {t}.replays, \
               (extract(epoch from {t}.first_failed_at) * 1000)::int8, \
               (extract(epoch from {t}.last_failed_at) * 1000)::int8, {t}.last_error, picked.reclaimed"
        ),
        // 4 ack
        format!("DELETE FROM {t} WHERE id = $1 AND claim_token = $2 AND state = 1"),
        // 5 release for a retry
        format!(
            "UPDATE {t} SET state = 0, claim_token = NULL, lease_until = NULL, \
             next_attempt_at = now() + make_interval(secs => $3::float8 / 1000.0), \
             last_failed_at = now(), last_error = $4 \
             WHERE id = $1 AND claim_token = $2 AND state = 1"
        ),
        // 6 release untried
        format!(
            "UPDATE {t} SET state = 0, claim_token = NULL, lease_until = NULL, \
             replays = greatest(replays - 1, 0) WHERE id = $1 AND claim_token = $2 AND state = 1"
        ),
        // 7 park a claimed letter
        format!(
            "UPDATE {t} SET state = 2, claim_token = NULL, lease_until = NULL, last_failed_at = now(), \
             last_error = $3 WHERE id = $1 AND claim_token = $2 AND state = 1"
        ),
        // 8 stats
        format!(
            "SELECT count(*) FILTER (WHERE (state = 0 AND next_attempt_at <= now()) OR (state = 1 AND lease_until <= now())), \
                    count(*) FILTER (WHERE state = 0 AND next_attempt_at > now()), \
                    count(*) FILTER (WHERE state = 1 AND lease_until > now()), \
                    count(*) FILTER (WHERE state = 2), \
                    (extract(epoch from now() - min(first_failed_at) FILTER (WHERE state < 2)) * 1000)::int8 \
             FROM {t} WHERE queue = $1"
        ),
        // 9 parked letters
        format!("SELECT {COLUMNS} FROM {t} WHERE queue = $1 AND state = 2 ORDER BY id LIMIT $2"),
        // 10 purge parked
        format!("DELETE FROM {t} WHERE queue = $1 AND state = 2"),
        // 11 purge all
        format!("DELETE FROM {t} WHERE queue = $1"),
        // 12 park an undecodable letter (claimed by us)
        format!(
            "UPDATE {t} SET state = 2, claim_token = NULL, lease_until = NULL, last_error = $3 \
             WHERE id = $1 AND claim_token = $2"
        ),
    ]
}

/// The prepared statements of one connection, in [`sql`]'s order.
struct Statements(Vec<Statement>);

impl Statements {
    fn get(&self, i: usize) -> Result<&Statement, String> {
        self.0
            .get(i)
            .ok_or_else(|| format!("statement {i} is not prepared"))
    }
}

/// A [`DeadLetterStore`] in a PostgreSQL table: durable, shared by any
/// number of replayers, per-key FIFO. See the [module docs](self) for the
/// table and the statements.
///
/// Cheap to share: wrap it in an `Arc` and hand it to the tower
/// `DeadLetterLayer` and to one or more `Replayer`s (in this process or
/// others).
///
/// ```no_run
/// use std::time::Duration;
/// use resilience_core::dead_letter::{ClaimOptions, DeadLetterReason, DeadLetterStore, NewLetter};
/// use resilience_store::connection::PostgresConfig;
/// use resilience_store::dead_letter::QueueConfig;
/// use resilience_store::dead_letter::postgres::PostgresDeadLetterStore;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Retrain { model: String }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresDeadLetterStore::<Retrain>::connect(
///     &PostgresConfig::new("host=127.0.0.1 user=postgres dbname=postgres"),
///     QueueConfig::new("retrain").with_capacity(1_000_000),
/// )
/// .await?;
/// store.enqueue(NewLetter::new(Retrain { model: "llama-7b".into() }, DeadLetterReason::CircuitOpen)).await?;
///
/// for letter in store.claim(ClaimOptions::new(32, Duration::from_secs(60))).await? {
///     // ... replay letter.item, keyed by letter.idempotency_key ...
///     store.ack(letter.receipt()).await?;
/// }
/// # Ok(()) }
/// ```
pub struct PostgresDeadLetterStore<T, C = JsonCodec> {
    pool: Pool<Statements>,
    queue: Arc<str>,
    config: QueueConfig,
    table: String,
    codec: C,
    metrics: StoreMetrics,
    listeners: Listeners<DeadLetterEvent>,
    _item: PhantomData<fn(T) -> T>,
}

impl<T> PostgresDeadLetterStore<T, JsonCodec>
where
    JsonCodec: LetterCodec<T>,
{
    /// Connects, runs the migration and prepares the statements; requests
    /// are stored as versioned JSON ([`JsonCodec`] version 1).
    pub async fn connect(
        connection: &PostgresConfig,
        queue: QueueConfig,
    ) -> Result<Self, ConnectError> {
        PostgresDeadLetterStore::connect_with_codec(connection, queue, JsonCodec::new()).await
    }
}

impl<T, C: LetterCodec<T>> PostgresDeadLetterStore<T, C> {
    /// Like [`connect`](PostgresDeadLetterStore::connect), storing requests
    /// with `codec`.
    pub async fn connect_with_codec(
        connection: &PostgresConfig,
        queue: QueueConfig,
        codec: C,
    ) -> Result<Self, ConnectError> {
        queue.validate()?;
        connection.validate()?;
        let table = connection.dead_letter_table.clone();
        migrate(connection, &table).await?;
        let statements = sql(&table);
        let prepare: Prepare<Statements> = Arc::new(move |client: Arc<Client>| {
            let statements = statements.clone();
            Box::pin(async move {
                let mut out = Vec::with_capacity(statements.len());
                for s in &statements {
                    out.push(client.prepare(s).await?);
                }
                Ok(Statements(out))
            })
        });
        let pool = Pool::connect(connection, prepare).await?;
        let name: Arc<str> = queue.name.as_str().into();
        Ok(PostgresDeadLetterStore {
            pool,
            metrics: StoreMetrics::new(&name),
            queue: name,
            config: queue,
            table,
            codec,
            listeners: Listeners::new(),
            _item: PhantomData,
        })
    }

    /// Listeners for the store's [`DeadLetterEvent`]s (`Parked`,
    /// `Reclaimed`).
    pub fn listeners(&self) -> &Listeners<DeadLetterEvent> {
        &self.listeners
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    async fn conn(&self, op: StoreOp) -> Result<Arc<Conn<Statements>>, StoreError> {
        self.pool.get().await.map_err(|e| self.fail(op, e))
    }

    fn fail(&self, op: StoreOp, e: impl ToString) -> StoreError {
        self.metrics.error(op);
        unavailable(BACKEND, &self.queue, e)
    }

    fn lease_lost(&self, op: StoreOp, id: LetterId) -> StoreError {
        self.metrics.error(op);
        StoreError::LeaseLost {
            queue: self.queue.clone(),
            id,
        }
    }

    async fn do_enqueue(&self, letter: NewLetter<T>) -> Result<LetterId, DeadLetterError<T>> {
        let (bytes, item) = super::encode_payload(
            &self.codec,
            &self.metrics,
            &self.queue,
            self.config.max_payload_bytes,
            letter.item,
        )?;
        let reason = letter.reason.to_stored();
        let result: Result<Option<i64>, String> = async {
            let conn = self.pool.get().await?;
            let rows = match self.config.capacity {
                None => {
                    let st = conn.statements.get(0)?;
                    conn.client
                        .query(
                            st,
                            &[
                                &&*self.queue,
                                &letter.idempotency_key,
                                &letter.ordering_key,
                                &reason,
                                &bytes,
                            ],
                        )
                        .await
                }
                Some(cap) => {
                    let st = conn.statements.get(1)?;
                    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
                    conn.client
                        .query(
                            st,
                            &[
                                &&*self.queue,
                                &letter.idempotency_key,
                                &letter.ordering_key,
                                &reason,
                                &bytes,
                                &cap,
                            ],
                        )
                        .await
                }
            }
            .map_err(|e| e.to_string())?;
            Ok(rows.first().map(|r| r.get::<_, i64>(0)))
        }
        .await;
        match result {
            Ok(Some(id)) => {
                self.metrics.enqueued(1);
                Ok(LetterId::new(u64::try_from(id).unwrap_or(0), 0))
            }
            Ok(None) => {
                self.metrics.rejected();
                Err(DeadLetterError::Full {
                    item,
                    queue: self.queue.clone(),
                    capacity: usize::try_from(self.config.capacity.unwrap_or(0))
                        .unwrap_or(usize::MAX),
                })
            }
            Err(e) => {
                self.metrics.error(StoreOp::Enqueue);
                Err(DeadLetterError::Unavailable {
                    item,
                    reason: format!("dead-letter store `{}` (postgres): {e}", self.queue),
                })
            }
        }
    }

    fn letter_from_row(
        &self,
        row: &Row,
        state: LetterState,
    ) -> Result<StoredLetter<T>, (LetterId, String)> {
        let id = LetterId::new(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0), 0);
        let payload: &[u8] = row.get(4);
        let item = self
            .codec
            .decode(payload)
            .map_err(|e| (id, e.to_string()))?;
        let mut letter = StoredLetter::new(
            id,
            item,
            DeadLetterReason::from_stored(row.get::<_, &str>(3)),
            row.get::<_, String>(1),
            wall(row.get::<_, Option<i64>>(6)),
        );
        letter.ordering_key = row.get(2);
        letter.replays = u32::try_from(row.get::<_, i32>(5)).unwrap_or(0);
        letter.last_failed_at = wall(row.get::<_, Option<i64>>(7));
        letter.last_error = row.get(8);
        letter.state = state;
        Ok(letter)
    }

    async fn do_claim(&self, options: ClaimOptions) -> Result<Vec<ClaimedLetter<T>>, StoreError> {
        if options.lease.is_zero() {
            return Err(StoreError::InvalidArgument {
                queue: self.queue.clone(),
                reason: "a claim's lease must be longer than 0s".into(),
            });
        }
        if options.max_letters == 0 {
            return Ok(Vec::new());
        }
        let op = StoreOp::Claim;
        let conn = self.conn(op).await?;
        let max_replays = i32::try_from(options.max_replays).unwrap_or(i32::MAX);
        let st = conn.statements.get(2).map_err(|e| self.fail(op, e))?;
        let parked = conn
            .client
            .query(st, &[&&*self.queue, &max_replays])
            .await
            .map_err(|e| self.fail(op, e))?;
        self.note_parked(parked.iter().map(|r| {
            (
                LetterId::new(u64::try_from(r.get::<_, i64>(0)).unwrap_or(0), 0),
                "its lease expired too many times without an acknowledgement".to_string(),
            )
        }));
        let claim_token = token();
        let token_sql = i64::try_from(claim_token).unwrap_or(1);
        let limit = i64::try_from(options.max_letters).unwrap_or(i64::MAX);
        let lease_ms = options.lease.as_secs_f64() * 1000.0;
        let st = conn.statements.get(3).map_err(|e| self.fail(op, e))?;
        let mut rows = conn
            .client
            .query(st, &[&&*self.queue, &limit, &token_sql, &lease_ms])
            .await
            .map_err(|e| self.fail(op, e))?;
        rows.sort_by_key(|r| r.get::<_, i64>(0));
        let mut out = Vec::with_capacity(rows.len());
        let mut reclaimed = 0;
        let mut undecodable = Vec::new();
        for row in &rows {
            if row.get::<_, bool>(9) {
                reclaimed += 1;
            }
            match self.letter_from_row(row, LetterState::Claimed) {
                Ok(letter) => {
                    let receipt = Receipt::new(letter.id, claim_token);
                    out.push(ClaimedLetter::new(letter, receipt));
                }
                Err((id, why)) => undecodable.push((id, why)),
            }
        }
        if reclaimed > 0 {
            self.metrics.reclaimed(reclaimed);
            self.listeners.emit_with(|| DeadLetterEvent::Reclaimed {
                queue: self.queue.clone(),
                count: usize::try_from(reclaimed).unwrap_or(usize::MAX),
            });
        }
        if !undecodable.is_empty() {
            let st = conn.statements.get(12).map_err(|e| self.fail(op, e))?;
            for (id, why) in &undecodable {
                let id_sql = i64::try_from(id.high()).unwrap_or(0);
                let error = format!("undecodable: {why}");
                conn.client
                    .execute(st, &[&id_sql, &token_sql, &error])
                    .await
                    .map_err(|e| self.fail(op, e))?;
            }
            self.note_parked(undecodable.into_iter());
        }
        Ok(out)
    }

    fn note_parked(&self, parked: impl Iterator<Item = (LetterId, String)>) {
        let mut n = 0;
        for (id, reason) in parked {
            n += 1;
            self.listeners.emit_with(|| DeadLetterEvent::Parked {
                queue: self.queue.clone(),
                id,
                reason,
            });
        }
        if n > 0 {
            self.metrics.parked(n);
        }
    }

    async fn settle(
        &self,
        op: StoreOp,
        receipt: Receipt,
        release: Option<Release>,
    ) -> Result<(), StoreError> {
        let conn = self.conn(op).await?;
        let id = i64::try_from(receipt.id().high()).unwrap_or(-1);
        let tok = i64::try_from(receipt.token()).unwrap_or(-1);
        let n = match &release {
            None => {
                let st = conn.statements.get(4).map_err(|e| self.fail(op, e))?;
                conn.client.execute(st, &[&id, &tok]).await
            }
            Some(Release::Retry { after, error }) => {
                let st = conn.statements.get(5).map_err(|e| self.fail(op, e))?;
                let ms = after.as_secs_f64() * 1000.0;
                conn.client.execute(st, &[&id, &tok, &ms, error]).await
            }
            Some(Release::Untried) => {
                let st = conn.statements.get(6).map_err(|e| self.fail(op, e))?;
                conn.client.execute(st, &[&id, &tok]).await
            }
            Some(Release::Park { error }) => {
                let st = conn.statements.get(7).map_err(|e| self.fail(op, e))?;
                conn.client.execute(st, &[&id, &tok, error]).await
            }
            Some(_) => {
                return Err(StoreError::InvalidArgument {
                    queue: self.queue.clone(),
                    reason: "this release is not supported by the PostgreSQL store".into(),
                })
            }
        }
        .map_err(|e| self.fail(op, e))?;
        if n == 0 {
            return Err(self.lease_lost(op, receipt.id()));
        }
        match release {
            None => self.metrics.replayed(),
            Some(Release::Retry { .. }) => self.metrics.replay_failed(),
            Some(Release::Park { error }) => {
                self.note_parked(std::iter::once((receipt.id(), error)))
            }
            Some(_) => {}
        }
        Ok(())
    }

    async fn do_stats(&self) -> Result<QueueStats, StoreError> {
        let op = StoreOp::Stats;
        let conn = self.conn(op).await?;
        let st = conn.statements.get(8).map_err(|e| self.fail(op, e))?;
        let row = conn
            .client
            .query_one(st, &[&&*self.queue])
            .await
            .map_err(|e| self.fail(op, e))?;
        let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        let stats = QueueStats {
            ready: count(0),
            waiting: count(1),
            in_flight: count(2),
            parked: count(3),
            oldest_age: row
                .get::<_, Option<i64>>(4)
                .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        };
        self.metrics.record_stats(&stats);
        Ok(stats)
    }

    async fn do_parked(&self, limit: usize) -> Result<Vec<StoredLetter<T>>, StoreError> {
        let op = StoreOp::Parked;
        let conn = self.conn(op).await?;
        let st = conn.statements.get(9).map_err(|e| self.fail(op, e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = conn
            .client
            .query(st, &[&&*self.queue, &limit])
            .await
            .map_err(|e| self.fail(op, e))?;
        // A parked letter that does not decode is skipped here (it stays
        // parked; `purge` removes it).
        Ok(rows
            .iter()
            .filter_map(|r| self.letter_from_row(r, LetterState::Parked).ok())
            .collect())
    }

    async fn do_purge(&self, purge: Purge) -> Result<u64, StoreError> {
        let op = StoreOp::Purge;
        let conn = self.conn(op).await?;
        let i = if purge == Purge::Parked { 10 } else { 11 };
        let st = conn.statements.get(i).map_err(|e| self.fail(op, e))?;
        conn.client
            .execute(st, &[&&*self.queue])
            .await
            .map_err(|e| self.fail(op, e))
    }
}

fn wall(ms: Option<i64>) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.and_then(|m| u64::try_from(m).ok()).unwrap_or(0))
}

async fn migrate(connection: &PostgresConfig, table: &str) -> Result<(), ConnectError> {
    let client = Pool::<Statements>::raw(connection).await?;
    let lock = format!(
        "BEGIN; SELECT pg_advisory_xact_lock(hashtext('resilience-store migration {table}')); {} COMMIT;",
        migration_sql(table)
    );
    client
        .batch_execute(&lock)
        .await
        .map_err(|e| ConnectError::Postgres(format!("the migration of table {table} failed: {e}")))
}

impl<T, C> DeadLetterStore<T> for PostgresDeadLetterStore<T, C>
where
    T: Send + 'static,
    C: LetterCodec<T>,
{
    fn queue_name(&self) -> &str {
        &self.queue
    }

    fn enqueue(
        &self,
        letter: NewLetter<T>,
    ) -> StoreFuture<'_, Result<LetterId, DeadLetterError<T>>> {
        Box::pin(self.do_enqueue(letter))
    }

    fn claim(
        &self,
        options: ClaimOptions,
    ) -> StoreFuture<'_, Result<Vec<ClaimedLetter<T>>, StoreError>> {
        Box::pin(self.do_claim(options))
    }

    fn ack(&self, receipt: Receipt) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(self.settle(StoreOp::Ack, receipt, None))
    }

    fn release(
        &self,
        receipt: Receipt,
        release: Release,
    ) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(self.settle(StoreOp::Release, receipt, Some(release)))
    }

    fn stats(&self) -> StoreFuture<'_, Result<QueueStats, StoreError>> {
        Box::pin(self.do_stats())
    }

    fn parked(&self, limit: usize) -> StoreFuture<'_, Result<Vec<StoredLetter<T>>, StoreError>> {
        Box::pin(self.do_parked(limit))
    }

    fn purge(&self, purge: Purge) -> StoreFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.do_purge(purge))
    }
}

impl<T, C> fmt::Debug for PostgresDeadLetterStore<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string may hold a password: not shown.
        f.debug_struct("PostgresDeadLetterStore")
            .field("queue", &self.queue)
            .field("table", &self.table)
            .field("capacity", &self.config.capacity)
            .finish_non_exhaustive()
    }
}
