//! Connection settings shared by every engine of this crate, and the
//! connection handling behind them.
//!
//! Each store holds its own connections (a few PostgreSQL connections used
//! round-robin, or one multiplexed Redis connection) and replaces a broken
//! one on the next call, so a server restart costs the calls in flight at
//! that moment, which fail with a typed error and can be retried.

// Without an engine feature this module holds nothing to connect with.
#![cfg_attr(
    not(any(feature = "postgres", feature = "redis")),
    allow(unused_imports, dead_code)
)]

use std::time::Duration;

use resilience_core::config::{check_nonzero_duration, ConfigError};
use serde::{Deserialize, Serialize};

const fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

#[cfg(feature = "postgres")]
const fn default_connections() -> usize {
    2
}

#[cfg(feature = "postgres")]
fn default_dead_letter_table() -> String {
    "resilience_dead_letters".to_string()
}

/// Where the PostgreSQL engines connect.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `url` | required | libpq connection string (`host=10.0.0.5 user=app dbname=app`) or `postgres://` URL |
/// | `connections` | 2 | connections per store, used round-robin (each one pipelines concurrent statements) |
/// | `connect_timeout` | `5s` | per connection attempt |
/// | `statement_timeout` | `5s` | per statement, enforced by the server |
/// | `dead_letter_table` | `resilience_dead_letters` | the dead-letter stores' table (created if missing; many queues share it) |
///
/// ```
/// use resilience_core::config::from_yaml_str;
/// use resilience_store::connection::PostgresConfig;
/// let cfg: PostgresConfig = from_yaml_str("url: host=127.0.0.1 user=postgres dbname=postgres\nconnections: 4").unwrap();
/// cfg.validate().unwrap();
/// assert_eq!(PostgresConfig::new("host=x").with_connections(0).validate().unwrap_err().field(), Some("connections"));
/// ```
#[cfg(feature = "postgres")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection string or URL.
    pub url: String,
    /// Connections per store.
    #[serde(default = "default_connections")]
    pub connections: usize,
    /// Connection timeout.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub connect_timeout: Duration,
    /// Statement timeout.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub statement_timeout: Duration,
    /// The dead-letter table.
    #[serde(default = "default_dead_letter_table")]
    pub dead_letter_table: String,
}

#[cfg(feature = "postgres")]
impl PostgresConfig {
    /// Settings for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            connections: default_connections(),
            connect_timeout: default_timeout(),
            statement_timeout: default_timeout(),
            dead_letter_table: default_dead_letter_table(),
        }
    }

    /// Sets `dead_letter_table`.
    pub fn with_dead_letter_table(mut self, table: impl Into<String>) -> Self {
        self.dead_letter_table = table.into();
        self
    }

    /// Sets `connections`.
    pub fn with_connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.parsed().map(|_| ())
    }

    pub(crate) fn parsed(&self) -> Result<tokio_postgres::Config, ConfigError> {
        if self.connections == 0 || self.connections > 64 {
            return Err(ConfigError::invalid(
                "connections",
                format!("must be between 1 and 64, got {}", self.connections),
            ));
        }
        check_nonzero_duration("connect_timeout", self.connect_timeout)?;
        check_nonzero_duration("statement_timeout", self.statement_timeout)?;
        let t = &self.dead_letter_table;
        let ok_ident = !t.is_empty()
            && t.len() <= 50
            && t.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok_ident {
            return Err(ConfigError::invalid(
                "dead_letter_table",
                format!(
                    "must be a plain identifier ([a-z_][a-z0-9_]*, at most 50 bytes), got {t:?}"
                ),
            ));
        }
        let mut pg: tokio_postgres::Config = self.url.parse().map_err(|e| {
            ConfigError::invalid(
                "url",
                format!("is not a valid PostgreSQL connection string: {e}"),
            )
        })?;
        pg.connect_timeout(self.connect_timeout);
        Ok(pg)
    }
}

#[cfg(feature = "redis")]
fn default_prefix() -> String {
    "resilience".to_string()
}

/// Where the Redis engines connect.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `url` | required | `redis://[user:password@]host:port/db` (`rediss://` is not built in) |
/// | `key_prefix` | `resilience` | first part of every key this crate writes |
/// | `connect_timeout` | `5s` | per connection attempt |
/// | `response_timeout` | `5s` | per command |
///
/// ```
/// use resilience_store::connection::RedisConfig;
/// RedisConfig::new("redis://127.0.0.1:6379/").validate().unwrap();
/// assert_eq!(RedisConfig::new("http://x").validate().unwrap_err().field(), Some("url"));
/// ```
#[cfg(feature = "redis")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// The server's URL.
    pub url: String,
    /// Prefix of every key.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Connection timeout.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub connect_timeout: Duration,
    /// Response timeout.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub response_timeout: Duration,
}

#[cfg(feature = "redis")]
impl RedisConfig {
    /// Settings for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            key_prefix: default_prefix(),
            connect_timeout: default_timeout(),
            response_timeout: default_timeout(),
        }
    }

    /// Sets `key_prefix`.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("redis://") || self.url.starts_with("redis+unix://")) {
            return Err(ConfigError::invalid(
                "url",
                format!(
                    "must start with redis:// (or redis+unix://), got {:?}",
                    redact(&self.url)
                ),
            ));
        }
        redis::Client::open(self.url.as_str())
            .map_err(|e| ConfigError::invalid("url", format!("is not a valid Redis URL: {e}")))?;
        check_key_part("key_prefix", &self.key_prefix)?;
        check_nonzero_duration("connect_timeout", self.connect_timeout)?;
        check_nonzero_duration("response_timeout", self.response_timeout)?;
        Ok(())
    }

    pub(crate) async fn connect(&self) -> Result<redis::aio::ConnectionManager, ConnectError> {
        self.validate()?;
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| ConnectError::Redis(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(1));
        client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| ConnectError::Redis(e.to_string()))
    }
}

/// The URL without its password, for messages.
#[cfg(feature = "redis")]
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// A name that goes into keys or table names: plain characters only.
pub(crate) fn check_key_part(field: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be 1 to 100 characters of [A-Za-z0-9_.-], got {value:?}"),
        ))
    }
}

/// A store could not be set up.
///
/// ```
/// use resilience_store::connection::ConnectError;
/// let e = ConnectError::Postgres("connection refused".into());
/// assert!(e.to_string().contains("connection refused"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// PostgreSQL refused or could not be reached, or the migration failed.
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// Redis refused or could not be reached.
    #[error("Redis: {0}")]
    Redis(String),
}

#[cfg(feature = "postgres")]
pub(crate) mod pg {
    //! A few reconnecting PostgreSQL connections, each with its statements
    //! prepared.

    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::sync::Mutex;
    use tokio_postgres::{Client, NoTls};

    use super::{ConnectError, PostgresConfig};

    /// Prepares a connection's statements.
    pub(crate) type Prepare<S> = Arc<
        dyn Fn(
                Arc<Client>,
            )
                -> Pin<Box<dyn Future<Output = Result<S, tokio_postgres::Error>> + Send>>
            + Send
            + Sync,
    >;

    /// A connection with its prepared statements.
    pub(crate) struct Conn<S> {
        pub(crate) client: Arc<Client>,
        pub(crate) statements: S,
    }

    pub(crate) struct Pool<S> {
        config: tokio_postgres::Config,
        statement_timeout_ms: u128,
        slots: Vec<Mutex<Option<Arc<Conn<S>>>>>,
        next: AtomicUsize,
        prepare: Prepare<S>,
    }

    impl<S: Send + Sync + 'static> Pool<S> {
        /// Opens the first connection now (so a bad URL fails at startup);
        /// the others on first use.
        pub(crate) async fn connect(
            config: &PostgresConfig,
            prepare: Prepare<S>,
        ) -> Result<Pool<S>, ConnectError> {
            let pg = config.parsed()?;
            let pool = Pool {
                config: pg,
                statement_timeout_ms: config.statement_timeout.as_millis().max(1),
                slots: (0..config.connections).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
                prepare,
            };
            pool.get().await.map_err(ConnectError::Postgres)?;
            Ok(pool)
        }

        /// A plain client (no statements), for one-off work such as migrations.
        pub(crate) async fn raw(config: &PostgresConfig) -> Result<Client, ConnectError> {
            let pg = config.parsed()?;
            let (client, connection) = pg
                .connect(NoTls)
                .await
                .map_err(|e| ConnectError::Postgres(e.to_string()))?;
            tokio::spawn(connection);
            Ok(client)
        }

        /// A live connection, replacing a broken one.
        pub(crate) async fn get(&self) -> Result<Arc<Conn<S>>, String> {
            let n = self.slots.len().max(1);
            let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
            let Some(slot) = self.slots.get(i) else {
                return Err("no connection slot".to_string());
            };
            let mut slot = slot.lock().await;
            if let Some(conn) = &*slot
                && !conn.client.is_closed()
            {
                return Ok(conn.clone());
            }
            *slot = None;
            let (client, connection) = self
                .config
                .connect(NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            client
                .batch_execute(&format!(
                    "SET statement_timeout = {}",
                    self.statement_timeout_ms
                ))
                .await
                .map_err(|e| e.to_string())?;
            let client = Arc::new(client);
            let statements = (self.prepare)(client.clone())
                .await
                .map_err(|e| e.to_string())?;
            let conn = Arc::new(Conn { client, statements });
            *slot = Some(conn.clone());
            Ok(conn)
        }
    }
}
