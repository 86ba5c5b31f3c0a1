//! PostgreSQL building blocks for failover actions (feature `postgres`).
//!
//! The orchestrator never talks to a database itself; these helpers are the
//! SQL a host's actions need to fail over a streaming-replication pair:
//!
//! | phase | helper | SQL |
//! |---|---|---|
//! | Prepare | [`is_in_recovery`] | `SELECT pg_is_in_recovery()` (the standby must still be one) |
//! | Guard | [`replication_lag`] | `pg_stat_replication` on the primary: `sync_state` and `replay_lag` |
//! | Switch | [`promote`] | `SELECT pg_promote(true, n)` on the standby |
//! | Fence | [`fence_database`] / [`fence_cluster`] | `default_transaction_read_only = on` + terminate sessions |
//! | Fence, after the above | [`release_synchronous_standbys`] | `synchronous_standby_names = ''` on the old primary |
//!
//! The helpers take a connected [`tokio_postgres::Client`]; connecting (and
//! spawning the connection task) is the host's business, so its TLS and pool
//! choices stay its own.
//!
//! **About the read-only fence.** `default_transaction_read_only` stops
//! every well-behaved client (new transactions are read-only, existing
//! sessions are terminated), but a client can still ask for `BEGIN READ
//! WRITE`. Use it as the reference runbooks do ("disable writes to old primary"), and
//! pair it with a stronger fence where split-brain would be costly: stop the
//! old primary, remove it from `pg_hba.conf`, or guard writes with the lease
//! module's fencing tokens.
//!
//! ```no_run
//! use std::time::Duration;
//! use resilience_dr::failover::postgres;
//! # async fn demo(primary: tokio_postgres::Client, standby: tokio_postgres::Client) -> Result<(), postgres::PgFailoverError> {
//! let lag = postgres::replication_lag(&primary, "orders", None).await?;
//! if lag.synchronous {
//!     postgres::promote(&standby, Duration::from_secs(60)).await?;
//!     postgres::fence_cluster(&primary).await?; // first: cut off waiting commits
//!     postgres::release_synchronous_standbys(&primary).await?;
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use tokio_postgres::Client;

use super::DataLag;

/// A PostgreSQL step failed.
///
/// ```
/// use resilience_dr::failover::postgres::PgFailoverError;
/// let e = PgFailoverError::NoStandby { application_name: None };
/// assert!(e.to_string().contains("no standby"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgFailoverError {
    /// The server returned an error (connection lost, permission denied...).
    #[error("PostgreSQL {what} failed: {source}")]
    Sql {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// `pg_stat_replication` lists no (matching) standby.
    #[error("no standby {} is streaming from this primary: check that it is up and replicating", application_name.as_deref().map(|n| format!("named `{n}`")).unwrap_or_default())]
    NoStandby {
        /// The application name looked for.
        application_name: Option<String>,
    },
    /// `pg_promote` returned false: promotion did not finish in time.
    #[error("promotion did not finish within {}s; check the standby's log", wait.as_secs())]
    PromotionTimedOut {
        /// The wait given to `pg_promote`.
        wait: Duration,
    },
    /// Fencing signalled sessions that had not exited when the wait ran
    /// out. Releasing the synchronous-standby wait now could acknowledge
    /// their commits, so the fence reports failure instead (a retry
    /// signals them again).
    #[error("{count} terminated session(s) still running after {}ms; not safe to release synchronous waits yet", waited.as_millis())]
    SessionsSurvived {
        /// Sessions still present.
        count: usize,
        /// How long fencing waited for them.
        waited: Duration,
    },
    /// The server is not in the role the step needs.
    #[error("server is {actual}, expected {expected}")]
    WrongRole {
        /// What it should be.
        expected: &'static str,
        /// What it is.
        actual: &'static str,
    },
}

fn sql(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> PgFailoverError {
    move |source| PgFailoverError::Sql { what, source }
}

/// Whether the server is a standby (`pg_is_in_recovery()`).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use resilience_dr::failover::postgres;
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// assert!(!postgres::is_in_recovery(&client).await?, "expected a primary");
/// # Ok(()) }
/// ```
pub async fn is_in_recovery(client: &Client) -> Result<bool, PgFailoverError> {
    let row = client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(sql("pg_is_in_recovery"))?;
    row.try_get(0).map_err(sql("pg_is_in_recovery"))
}

/// Replication lag of the standby as the **primary** sees it, labelled
/// `data_type` for the guard.
///
/// Reads `pg_stat_replication` (optionally only the standby whose
/// `application_name` matches): the standby counts as synchronous when its
/// `sync_state` is `sync` or `quorum`; the lag is `replay_lag` (zero when the
/// standby is idle and caught up). With several standbys and no name, the
/// worst lag is reported and the pair counts as synchronous if any is.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use resilience_dr::failover::postgres;
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// let lag = postgres::replication_lag(&client, "orders", Some("standby1")).await?;
/// println!("synchronous: {}, lag: {:?}", lag.synchronous, lag.lag);
/// # Ok(()) }
/// ```
pub async fn replication_lag(
    primary: &Client,
    data_type: &str,
    application_name: Option<&str>,
) -> Result<DataLag, PgFailoverError> {
    let rows = primary
        .query(
            "SELECT sync_state::text, \
                    COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8 \
             FROM pg_stat_replication \
             WHERE state = 'streaming' AND ($1::text IS NULL OR application_name = $1::text)",
            &[&application_name],
        )
        .await
        .map_err(sql("reading pg_stat_replication"))?;
    if rows.is_empty() {
        return Err(PgFailoverError::NoStandby {
            application_name: application_name.map(str::to_string),
        });
    }
    let mut synchronous = false;
    let mut lag = 0.0f64;
    for row in rows {
        let state: Option<String> = row.try_get(0).map_err(sql("reading sync_state"))?;
        let secs: f64 = row.try_get(1).map_err(sql("reading replay_lag"))?;
        synchronous |= matches!(state.as_deref(), Some("sync") | Some("quorum"));
        if secs.is_finite() && secs > lag {
            lag = secs;
        }
    }
    Ok(DataLag {
        data_type: data_type.to_string(),
        lag: Duration::try_from_secs_f64(lag).unwrap_or(Duration::MAX),
        synchronous,
    })
}

/// Promotes a standby to primary, waiting up to `wait` for it to finish.
///
/// Refuses (with [`PgFailoverError::WrongRole`]) if the server is not a
/// standby, so a retried switch after a successful promotion is reported
/// rather than silently ignored; callers that want idempotence check
/// [`is_in_recovery`] first.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use resilience_dr::failover::postgres;
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// // `client` is connected to the standby
/// postgres::promote(&client, std::time::Duration::from_secs(60)).await?;
/// assert!(!postgres::is_in_recovery(&client).await?);
/// # Ok(()) }
/// ```
pub async fn promote(standby: &Client, wait: Duration) -> Result<(), PgFailoverError> {
    if !is_in_recovery(standby).await? {
        return Err(PgFailoverError::WrongRole {
            expected: "a standby",
            actual: "already a primary",
        });
    }
    let secs = i32::try_from(wait.as_secs().max(1)).unwrap_or(i32::MAX);
    let row = standby
        .query_one("SELECT pg_promote(true, $1)", &[&secs])
        .await
        .map_err(sql("pg_promote"))?;
    let done: bool = row.try_get(0).map_err(sql("pg_promote"))?;
    if done {
        Ok(())
    } else {
        Err(PgFailoverError::PromotionTimedOut { wait })
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Stops the old primary waiting for synchronous standbys that are gone
/// (`ALTER SYSTEM SET synchronous_standby_names = ''` + reload, which also
/// overrides a value set in `postgresql.conf`).
///
/// **Call it after fencing, never before.** Commits made on the old primary
/// after the standby was promoted are waiting for a synchronous
/// acknowledgement that will never come; releasing the wait would
/// acknowledge them to their clients although they exist only on the old
/// primary (lost writes). Fencing first terminates those sessions, so their
/// clients never see an acknowledgement.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use resilience_dr::failover::postgres;
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// // `client` is connected to the old primary, already fenced
/// postgres::release_synchronous_standbys(&client).await?;
/// # Ok(()) }
/// ```
pub async fn release_synchronous_standbys(old_primary: &Client) -> Result<(), PgFailoverError> {
    old_primary
        .batch_execute("ALTER SYSTEM SET synchronous_standby_names = ''")
        .await
        .map_err(sql("resetting synchronous_standby_names"))?;
    reload(old_primary).await
}

async fn reload(client: &Client) -> Result<(), PgFailoverError> {
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .map_err(sql("pg_reload_conf"))
}

/// Makes one database of the old primary read-only: new transactions there
/// default to read-only and its other sessions are terminated (in-flight
/// writes are cut off, including commits still waiting for a synchronous
/// standby, whose clients get an error, not an acknowledgement). It returns
/// once every terminated session has exited (at most 10 s, else
/// [`PgFailoverError::SessionsSurvived`]), so releasing the synchronous
/// wait afterwards cannot acknowledge a commit. Other
/// databases of the server are untouched. The statement itself commits with
/// `synchronous_commit = local`, so it never waits for the lost standby.
/// Returns how many sessions were terminated.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use resilience_dr::failover::postgres;
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// let cut = postgres::fence_database(&client, "orders_db").await?;
/// println!("{cut} sessions terminated");
/// # Ok(()) }
/// ```
pub async fn fence_database(old_primary: &Client, database: &str) -> Result<u64, PgFailoverError> {
    old_primary
        .batch_execute(&format!(
            "BEGIN; SET LOCAL synchronous_commit = local; \
             ALTER DATABASE {} SET default_transaction_read_only = on; COMMIT",
            quote_ident(database)
        ))
        .await
        .map_err(sql("ALTER DATABASE ... SET default_transaction_read_only"))?;
    let rows = old_primary
        .query(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            &[&database],
        )
        .await
        .map_err(sql("listing sessions"))?;
    terminate_and_wait(old_primary, rows.iter().map(|r| r.get(0)).collect()).await
}

/// Makes the whole old primary read-only (`ALTER SYSTEM SET
/// default_transaction_read_only = on` + reload) and terminates every other
/// client session. Returns how many sessions were terminated.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use resilience_dr::failover::postgres;
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// postgres::fence_cluster(&client).await?;
/// postgres::release_synchronous_standbys(&client).await?;
/// # Ok(()) }
/// ```
pub async fn fence_cluster(old_primary: &Client) -> Result<u64, PgFailoverError> {
    old_primary
        .batch_execute("ALTER SYSTEM SET default_transaction_read_only = on")
        .await
        .map_err(sql("ALTER SYSTEM SET default_transaction_read_only"))?;
    reload(old_primary).await?;
    let rows = old_primary
        .query(
            "SELECT pid FROM pg_stat_activity \
             WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
            &[],
        )
        .await
        .map_err(sql("listing sessions"))?;
    terminate_and_wait(old_primary, rows.iter().map(|r| r.get(0)).collect()).await
}

/// How long fencing waits for the sessions it terminated to exit.
const TERMINATION_WAIT: Duration = Duration::from_secs(10);

/// Terminates `pids` and waits until none of them is running.
///
/// `pg_terminate_backend` only sends a signal. A backend waiting for a
/// synchronous standby checks whether its wait was released before it
/// checks for the signal; if the caller released the wait
/// ([`release_synchronous_standbys`]) between the signal and the backend's
/// exit, the backend would acknowledge a commit that exists only on the old
/// primary. Waiting for the exit closes that window.
async fn terminate_and_wait(client: &Client, pids: Vec<i32>) -> Result<u64, PgFailoverError> {
    if pids.is_empty() {
        return Ok(0);
    }
    client
        .query(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int4[]) AS pid",
            &[&pids],
        )
        .await
        .map_err(sql("terminating sessions"))?;
    let started = tokio::time::Instant::now();
    loop {
        let left: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int4[])",
                &[&pids],
            )
            .await
            .map_err(sql("waiting for terminated sessions"))?
            .get(0);
        if left == 0 {
            return Ok(pids.len() as u64);
        }
        let waited = started.elapsed();
        if waited >= TERMINATION_WAIT {
            return Err(PgFailoverError::SessionsSurvived {
                count: usize::try_from(left).unwrap_or(usize::MAX),
                waited,
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("orders"), "\"orders\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
