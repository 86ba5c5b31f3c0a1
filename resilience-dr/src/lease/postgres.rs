//! The PostgreSQL lease backend (feature `postgres`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};
use resilience_core::config::{check_nonzero_duration, ConfigError};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, NoTls, Socket};

use super::{
    instant_add, validate_id, validate_lease, validate_ttl, FencingToken, Lease, LeaseBackend,
    LeaseError, LeaseFuture,
};

const BACKEND: &str = "postgres";

fn default_table() -> String {
    "resilience_leases".to_string()
}

const fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

/// Where and how to keep leases in PostgreSQL.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `connection` | required | libpq-style connection string, e.g. `host=10.0.0.5 user=app dbname=app` |
/// | `table` | `resilience_leases` | lease table; its sequence is `<table>_token_seq` |
/// | `statement_timeout` | `2s` | per statement, enforced by the server and the client |
/// | `connect_timeout` | `2s` | per connection attempt |
///
/// ```
/// use resilience_core::config::from_yaml_str;
/// use resilience_dr::lease::PostgresLeaseConfig;
/// let cfg: PostgresLeaseConfig = from_yaml_str("
/// connection: host=127.0.0.1 port=5432 user=postgres dbname=postgres
/// table: scheduler_leases
/// ").unwrap();
/// cfg.validate().unwrap();
/// let bad = PostgresLeaseConfig::new("host=x").table("leases; drop table users");
/// assert_eq!(bad.validate().unwrap_err().field(), Some("table"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresLeaseConfig {
    /// libpq-style connection string (or `postgresql://` URL).
    pub connection: String,
    /// Lease table name (a plain lower-case identifier).
    #[serde(default = "default_table")]
    pub table: String,
    /// Statement timeout.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub statement_timeout: Duration,
    /// Connection timeout.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub connect_timeout: Duration,
}

impl PostgresLeaseConfig {
    /// A config for `connection` with the defaults.
    pub fn new(connection: impl Into<String>) -> Self {
        PostgresLeaseConfig {
            connection: connection.into(),
            table: default_table(),
            statement_timeout: default_timeout(),
            connect_timeout: default_timeout(),
        }
    }

    /// Sets `table`.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Renamed to [`table`](Self::table).
    #[deprecated(since = "0.1.1", note = "renamed to `PostgresLeaseConfig::table`")]
    #[doc(hidden)]
    pub fn with_table(self, table: impl Into<String>) -> Self {
        self.table(table)
    }

    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.parsed().map(|_| ())
    }

    fn parsed(&self) -> Result<tokio_postgres::Config, ConfigError> {
        let ok_ident = !self.table.is_empty()
            && self.table.len() <= 50
            && self
                .table
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && self
                .table
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok_ident {
            return Err(ConfigError::invalid(
                "table",
                format!(
                    "must be a plain identifier ([a-z_][a-z0-9_]*, at most 50 bytes), got {:?}",
                    self.table
                ),
            ));
        }
        check_nonzero_duration("statement_timeout", self.statement_timeout)?;
        check_nonzero_duration("connect_timeout", self.connect_timeout)?;
        let mut pg: tokio_postgres::Config = self.connection.parse().map_err(|e| {
            ConfigError::invalid(
                "connection",
                format!("is not a valid connection string: {e}"),
            )
        })?;
        pg.connect_timeout(self.connect_timeout);
        Ok(pg)
    }
}

type Connector =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Client, LeaseError>> + Send>> + Send + Sync>;

/// Leases in a PostgreSQL table; tokens from a sequence; expiry by the
/// database's clock.
///
/// Cheap to clone: clones share one backend and its connection (an `Arc`
/// inside).
///
/// The table (created if missing, with its sequence):
///
/// ```sql
/// CREATE TABLE resilience_leases (
///     name       text PRIMARY KEY,
///     holder     text NOT NULL,
///     token      bigint NOT NULL,       -- nextval('resilience_leases_token_seq')
///     ttl_ms     bigint NOT NULL,
///     expires_at timestamptz NOT NULL   -- judged against the server's now()
/// );
/// ```
///
/// - **acquire**, in one transaction: `INSERT ... ON CONFLICT (name) DO UPDATE
///   ... WHERE expires_at <= now()` with a fresh `nextval` token, returning
///   the row only if it was inserted or taken over; otherwise read the
///   holder for the `Held` answer. The conflict path locks the row, so two
///   candidates cannot both take an expired lease.
/// - **renew**: `UPDATE ... WHERE name, holder and token match AND
///   expires_at > now()`; no row means `Lost`.
/// - **release**: `DELETE` the row if it is still this tenure.
///
/// The database's clock alone decides expiry (`now()` is the transaction's
/// start, which only makes the checks more conservative), so candidates'
/// clocks never need to agree with each other. One connection per backend
/// value; a broken connection is replaced on the next call.
///
/// A primary/standby pair is not one lease store: point every candidate at
/// the same primary (or a proxy that follows promotion). Sequences are not
/// replicated transactionally: after a failover, restart tokens above the
/// old primary's with `SELECT setval(...)` if tokens must keep growing across it.
///
/// ```no_run
/// use resilience_dr::lease::{ElectorConfig, LeaderElector, PostgresLeaseBackend, PostgresLeaseConfig};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let pg = PostgresLeaseBackend::connect(PostgresLeaseConfig::new(
///     "host=127.0.0.1 user=postgres dbname=postgres",
/// ))
/// .await?;
/// let handle = LeaderElector::new(pg, ElectorConfig::new("scheduler", "sched-a"))?.start()?;
/// # Ok(()) }
/// ```
pub struct PostgresLeaseBackend {
    inner: Arc<PostgresLeaseBackendShared>,
}

impl Clone for PostgresLeaseBackend {
    fn clone(&self) -> Self {
        PostgresLeaseBackend {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct PostgresLeaseBackendShared {
    config: PostgresLeaseConfig,
    connector: Connector,
    client: Mutex<Option<Client>>,
    clock: SharedClock,
    sql: Sql,
}

impl fmt::Debug for PostgresLeaseBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string may hold a password: show the table only.
        f.debug_struct("PostgresLeaseBackend")
            .field("table", &self.inner.config.table)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Sql {
    schema: String,
    acquire: String,
    holder: String,
    renew: String,
    release: String,
    observe: String,
}

impl Sql {
    fn new(t: &str, statement_timeout: Duration) -> Self {
        let ms = statement_timeout.as_millis().max(1);
        Sql {
            schema: format!(
                "SET statement_timeout = {ms};
                 BEGIN;
                 -- Candidates starting together would race on CREATE ... IF NOT EXISTS.
                 SELECT pg_advisory_xact_lock(hashtext('resilience-dr lease schema {t}'));
                 CREATE SEQUENCE IF NOT EXISTS {t}_token_seq;
                 CREATE TABLE IF NOT EXISTS {t} (
                     name text PRIMARY KEY,
                     holder text NOT NULL,
                     token bigint NOT NULL,
                     ttl_ms bigint NOT NULL,
                     expires_at timestamptz NOT NULL
                 );
                 COMMIT;"
            ),
            acquire: format!(
                "INSERT INTO {t} AS l (name, holder, token, ttl_ms, expires_at)
                 VALUES ($1, $2, nextval('{t}_token_seq'), $3::bigint,
                         now() + $3::bigint::float8 * interval '1 millisecond')
                 ON CONFLICT (name) DO UPDATE
                    SET holder = EXCLUDED.holder, token = EXCLUDED.token,
                        ttl_ms = EXCLUDED.ttl_ms, expires_at = EXCLUDED.expires_at
                    WHERE l.expires_at <= now()
                 RETURNING token, ttl_ms"
            ),
            holder: format!(
                "SELECT holder, token,
                        greatest(extract(epoch FROM expires_at - now()), 0)::float8
                 FROM {t} WHERE name = $1"
            ),
            renew: format!(
                "UPDATE {t} SET ttl_ms = $4::bigint,
                                expires_at = now() + $4::bigint::float8 * interval '1 millisecond'
                 WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > now()
                 RETURNING ttl_ms"
            ),
            release: format!("DELETE FROM {t} WHERE name = $1 AND holder = $2 AND token = $3"),
            observe: format!(
                "SELECT holder, token, ttl_ms,
                        greatest(extract(epoch FROM expires_at - now()), 0)::float8
                 FROM {t} WHERE name = $1 AND expires_at > now()"
            ),
        }
    }
}

fn db_err(e: tokio_postgres::Error) -> LeaseError {
    LeaseError::backend(BACKEND, e)
}

fn token_of(v: i64) -> Result<FencingToken, LeaseError> {
    u64::try_from(v)
        .ok()
        .filter(|v| *v > 0)
        .map(FencingToken::new)
        .ok_or_else(|| LeaseError::backend(BACKEND, format!("the token sequence returned {v}")))
}

fn ttl_ms(ttl: Duration) -> i64 {
    // Whole milliseconds, rounded up; at most MAX_TTL, so it fits.
    let ms = ttl.as_millis().saturating_add(u128::from(
        ttl.subsec_nanos().checked_rem(1_000_000).unwrap_or(0) > 0,
    ));
    i64::try_from(ms.max(1)).unwrap_or(i64::MAX)
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

fn secs_f64(v: f64) -> Duration {
    Duration::try_from_secs_f64(v).unwrap_or(Duration::ZERO)
}

impl PostgresLeaseBackend {
    /// Connects without TLS and creates the table and sequence if missing.
    pub async fn connect(config: PostgresLeaseConfig) -> Result<Self, LeaseError> {
        Self::connect_with_tls_and_clock(config, NoTls, SystemClock).await
    }

    /// Like [`connect`](Self::connect), with `clock` for the local
    /// `expires_at` estimates (expiry itself is always the database's).
    pub async fn connect_with_clock(
        config: PostgresLeaseConfig,
        clock: impl Clock,
    ) -> Result<Self, LeaseError> {
        Self::connect_with_tls_and_clock(config, NoTls, clock).await
    }

    /// Connects with a TLS connector (e.g. from `postgres-native-tls` or
    /// `tokio-postgres-rustls`) and creates the table and sequence if missing.
    pub async fn connect_with_tls<T>(
        config: PostgresLeaseConfig,
        tls: T,
    ) -> Result<Self, LeaseError>
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        Self::connect_with_tls_and_clock(config, tls, SystemClock).await
    }

    /// Connects with a TLS connector and reads `clock` for the local
    /// `expires_at` estimates.
    pub async fn connect_with_tls_and_clock<T>(
        config: PostgresLeaseConfig,
        tls: T,
        clock: impl Clock,
    ) -> Result<Self, LeaseError>
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let pg = config.parsed()?;
        let connector: Connector = Arc::new(move || {
            let (pg, tls) = (pg.clone(), tls.clone());
            Box::pin(async move {
                let (client, connection) = pg.connect(tls).await.map_err(db_err)?;
                tokio::spawn(async move {
                    // Ends when the client is dropped or the server goes away;
                    // the next call then reconnects.
                    let _ = connection.await;
                });
                Ok(client)
            })
        });
        let backend = PostgresLeaseBackend {
            inner: Arc::new(PostgresLeaseBackendShared {
                sql: Sql::new(&config.table, config.statement_timeout),
                config,
                connector,
                client: Mutex::new(None),
                clock: shared(clock),
            }),
        };
        backend
            .with_client(|_, _| Box::pin(async { Ok(()) }))
            .await?;
        Ok(backend)
    }

    /// Replaced by [`connect_with_clock`](Self::connect_with_clock): the
    /// clock is given at construction, as everywhere in the suite.
    #[deprecated(
        since = "0.1.1",
        note = "use `PostgresLeaseBackend::connect_with_clock`"
    )]
    #[doc(hidden)]
    pub fn with_clock(self, clock: impl Clock) -> Self {
        PostgresLeaseBackend {
            inner: Arc::new(PostgresLeaseBackendShared {
                sql: Sql::new(
                    &self.inner.config.table,
                    self.inner.config.statement_timeout,
                ),
                config: self.inner.config.clone(),
                connector: self.inner.connector.clone(),
                // Reconnects on first use.
                client: Mutex::new(None),
                clock: shared(clock),
            }),
        }
    }

    /// Runs `op` on the (re)connected client, within `statement_timeout`;
    /// drops the connection after a failure so the next call starts afresh.
    async fn with_client<T>(
        &self,
        op: impl for<'c> FnOnce(
            &'c mut Client,
            &'c Sql,
        )
            -> Pin<Box<dyn Future<Output = Result<T, LeaseError>> + Send + 'c>>,
    ) -> Result<T, LeaseError> {
        let mut slot = self.inner.client.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            let client =
                tokio::time::timeout(self.inner.config.connect_timeout, (self.inner.connector)())
                    .await
                    .map_err(|_| LeaseError::backend(BACKEND, "connecting timed out"))??;
            tokio::time::timeout(
                self.inner.config.statement_timeout,
                client.batch_execute(&self.inner.sql.schema),
            )
            .await
            .map_err(|_| LeaseError::backend(BACKEND, "creating the lease table timed out"))?
            .map_err(db_err)?;
            *slot = Some(client);
        }
        let Some(client) = slot.as_mut() else {
            return Err(LeaseError::backend(BACKEND, "no connection"));
        };
        let out = tokio::time::timeout(
            self.inner.config.statement_timeout,
            op(client, &self.inner.sql),
        )
        .await;
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e.is_retryable() {
                    *slot = None;
                }
                Err(e)
            }
            Err(_) => {
                *slot = None;
                Err(LeaseError::backend(
                    BACKEND,
                    "the statement timed out (statement_timeout)",
                ))
            }
        }
    }

    async fn do_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, LeaseError> {
        validate_id("name", name)?;
        validate_id("holder", holder)?;
        validate_ttl(ttl)?;
        let sent = self.inner.clock.now();
        let ttl_ms = ttl_ms(ttl);
        let (name_s, holder_s) = (name.to_string(), holder.to_string());
        let outcome = self
            .with_client(move |client, sql| {
                Box::pin(async move {
                    let tx = client.transaction().await.map_err(db_err)?;
                    let won = tx
                        .query_opt(&sql.acquire, &[&name_s, &holder_s, &ttl_ms])
                        .await
                        .map_err(db_err)?;
                    let outcome = match won {
                        Some(row) => Ok((row.get::<_, i64>(0), row.get::<_, i64>(1))),
                        None => {
                            let row = tx
                                .query_one(&sql.holder, &[&name_s])
                                .await
                                .map_err(db_err)?;
                            Err((
                                row.get::<_, String>(0),
                                row.get::<_, i64>(1),
                                row.get::<_, f64>(2),
                            ))
                        }
                    };
                    tx.commit().await.map_err(db_err)?;
                    Ok(outcome)
                })
            })
            .await?;
        match outcome {
            Ok((token, granted_ms)) => {
                let granted = ms(granted_ms);
                Ok(Lease::new(
                    name,
                    holder,
                    token_of(token)?,
                    granted,
                    instant_add(sent, granted),
                ))
            }
            Err((current, token, remaining)) => Err(LeaseError::Held {
                name: name.to_string(),
                holder: current,
                token: token_of(token)?,
                expires_in: secs_f64(remaining),
            }),
        }
    }

    async fn do_renew(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        validate_lease(lease)?;
        let sent = self.inner.clock.now();
        let token = i64::try_from(lease.token.get()).map_err(|_| LeaseError::lost(lease))?;
        let ttl_ms = ttl_ms(lease.ttl);
        let (name, holder) = (lease.name.clone(), lease.holder.clone());
        let row = self
            .with_client(move |client, sql| {
                Box::pin(async move {
                    client
                        .query_opt(&sql.renew, &[&name, &holder, &token, &ttl_ms])
                        .await
                        .map_err(db_err)
                })
            })
            .await?;
        match row {
            Some(row) => {
                let granted = ms(row.get::<_, i64>(0));
                Ok(Lease::new(
                    lease.name.clone(),
                    lease.holder.clone(),
                    lease.token,
                    granted,
                    instant_add(sent, granted),
                ))
            }
            None => Err(LeaseError::lost(lease)),
        }
    }

    async fn do_release(&self, lease: &Lease) -> Result<(), LeaseError> {
        validate_lease(lease)?;
        let Ok(token) = i64::try_from(lease.token.get()) else {
            return Ok(()); // never granted by this backend
        };
        let (name, holder) = (lease.name.clone(), lease.holder.clone());
        self.with_client(move |client, sql| {
            Box::pin(async move {
                client
                    .execute(&sql.release, &[&name, &holder, &token])
                    .await
                    .map(|_| ())
                    .map_err(db_err)
            })
        })
        .await
    }

    async fn do_observe(&self, name: &str) -> Result<Option<Lease>, LeaseError> {
        validate_id("name", name)?;
        let sent = self.inner.clock.now();
        let name_s = name.to_string();
        let row = self
            .with_client(move |client, sql| {
                Box::pin(async move {
                    client
                        .query_opt(&sql.observe, &[&name_s])
                        .await
                        .map_err(db_err)
                })
            })
            .await?;
        row.map(|row| {
            Ok(Lease::new(
                name,
                row.get::<_, String>(0),
                token_of(row.get::<_, i64>(1))?,
                ms(row.get::<_, i64>(2)),
                instant_add(sent, secs_f64(row.get::<_, f64>(3))),
            ))
        })
        .transpose()
    }
}

impl LeaseBackend for PostgresLeaseBackend {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> LeaseFuture<'a, Lease> {
        Box::pin(self.do_acquire(name, holder, ttl))
    }

    fn renew<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, Lease> {
        Box::pin(self.do_renew(lease))
    }

    fn release<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, ()> {
        Box::pin(self.do_release(lease))
    }

    fn observe<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, Option<Lease>> {
        Box::pin(self.do_observe(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_whole_milliseconds_rounded_up() {
        assert_eq!(ttl_ms(Duration::from_nanos(1)), 1);
        assert_eq!(ttl_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 2);
        assert_eq!(ms(-5), Duration::ZERO);
        assert_eq!(secs_f64(f64::NAN), Duration::ZERO);
        assert_eq!(secs_f64(-1.0), Duration::ZERO);
    }

    #[test]
    fn config_rejects_unsafe_table_names_and_bad_connections() {
        for bad in ["", "Leases", "1abc", "a-b", "x\"y", &"a".repeat(51)] {
            let e = PostgresLeaseConfig::new("host=localhost")
                .table(bad)
                .validate()
                .unwrap_err();
            assert_eq!(e.field(), Some("table"), "{bad}");
        }
        let e = PostgresLeaseConfig::new("host=localhost port=notaport")
            .validate()
            .unwrap_err();
        assert_eq!(e.field(), Some("connection"));
        assert!(PostgresLeaseConfig::new("postgresql://u@localhost/db")
            .validate()
            .is_ok());
    }

    #[test]
    fn tokens_must_be_positive() {
        assert!(token_of(0).is_err());
        assert!(token_of(-1).is_err());
        assert_eq!(token_of(42).unwrap(), FencingToken::new(42));
    }
}
