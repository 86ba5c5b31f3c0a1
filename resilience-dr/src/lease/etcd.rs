//! The etcd lease backend (feature `etcd`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, KeyValue, PutOptions, Txn, TxnOp, TxnOpResponse,
};
use resilience_core::clock::{shared, Clock, SharedClock, SystemClock};
use resilience_core::config::{check_nonzero_duration, ConfigError};
use serde::{Deserialize, Serialize};

use super::{
    instant_add, validate_id, validate_lease, validate_ttl, FencingToken, Lease, LeaseBackend,
    LeaseError, LeaseFuture,
};

const BACKEND: &str = "etcd";
/// gRPC status code NOT_FOUND (etcd: "requested lease not found").
const GRPC_NOT_FOUND: i32 = 5;
/// gRPC status code UNAVAILABLE (connection refused, member down, no raft leader).
const GRPC_UNAVAILABLE: i32 = 14;

fn default_prefix() -> String {
    "/resilience/leases/".to_string()
}

const fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

/// Where and how to reach etcd.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `endpoints` | required | client URLs of the cluster members, e.g. `http://10.0.0.1:2379` |
/// | `key_prefix` | `/resilience/leases/` | lease `name` is stored at `key_prefix + name` |
/// | `request_timeout` | `2s` | per gRPC request |
/// | `connect_timeout` | `2s` | per connection attempt |
///
/// Keep `request_timeout` below the elector's `retry_timeout` so a stuck
/// request leaves room for a retry on another member.
///
/// ```
/// use resilience_core::config::from_yaml_str;
/// use resilience_dr::lease::EtcdLeaseConfig;
/// let cfg: EtcdLeaseConfig = from_yaml_str("
/// endpoints: [http://127.0.0.1:2379, http://127.0.0.1:22379]
/// request_timeout: 500ms
/// ").unwrap();
/// cfg.validate().unwrap();
/// assert_eq!(cfg.key_prefix, "/resilience/leases/");
/// assert!(EtcdLeaseConfig::new(Vec::<String>::new()).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdLeaseConfig {
    /// Client URLs of the cluster members.
    pub endpoints: Vec<String>,
    /// Key prefix under which leases live.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Timeout of each request.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub request_timeout: Duration,
    /// Timeout of each connection attempt.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub connect_timeout: Duration,
}

impl EtcdLeaseConfig {
    /// A config for `endpoints` with the defaults.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        EtcdLeaseConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            key_prefix: default_prefix(),
            request_timeout: default_timeout(),
            connect_timeout: default_timeout(),
        }
    }

    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.endpoints.is_empty() {
            return Err(ConfigError::invalid(
                "endpoints",
                "must list at least one etcd client URL, got none",
            ));
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            if e.trim().is_empty() || e.chars().any(char::is_whitespace) {
                return Err(ConfigError::invalid(
                    format!("endpoints[{i}]"),
                    format!("must be a URL such as http://127.0.0.1:2379, got {e:?}"),
                ));
            }
        }
        if self.key_prefix.chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                "key_prefix",
                format!(
                    "must not contain control characters, got {:?}",
                    self.key_prefix
                ),
            ));
        }
        check_nonzero_duration("request_timeout", self.request_timeout)?;
        check_nonzero_duration("connect_timeout", self.connect_timeout)
    }
}

/// Leases in etcd: an etcd lease per tenure, taken with a transaction.
///
/// Cheap to clone: clones share one backend and its etcd client (an `Arc`
/// inside).
///
/// - **acquire**: if the key exists, answer `Held` after one read. Else
///   grant an etcd lease with the TTL (rounded up to whole seconds: etcd's
///   unit; etcd may also raise it to its minimum TTL), then one transaction: *if the key's create revision is 0 (absent), put
///   `holder` attached to the lease, else read the key*. The fencing token is
///   the key's **create revision**: etcd's revision counter only grows, so a
///   new tenure (a new key) always gets a larger one. On failure the unused
///   etcd lease is revoked.
/// - **renew**: read the key; if it still has this tenure's create revision
///   and holder, send one keep-alive for the etcd lease attached to it. A
///   keep-alive answered with TTL 0 means the etcd lease expired: `Lost`.
/// - **release**: revoke the etcd lease of this tenure, which deletes the
///   key atomically.
/// - **observe**: read the key and its lease's remaining TTL.
///
/// Expiry is judged by etcd's leader; the returned `expires_at` counts from
/// an instant taken before the request was sent. Requests carry etcd's
/// `require_leader` flag, so a member cut off from the quorum refuses
/// instead of answering stale data, and the client retries on another.
///
/// ```no_run
/// use std::time::Duration;
/// use resilience_dr::lease::{ElectorConfig, EtcdLeaseBackend, EtcdLeaseConfig, LeaderElector};
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let etcd = EtcdLeaseBackend::connect(EtcdLeaseConfig::new(["http://127.0.0.1:2379"])).await?;
/// let handle = LeaderElector::new(etcd, ElectorConfig::new("scheduler", "sched-a"))?.start()?;
/// # Ok(()) }
/// ```
pub struct EtcdLeaseBackend {
    inner: Arc<EtcdLeaseBackendShared>,
}

impl Clone for EtcdLeaseBackend {
    fn clone(&self) -> Self {
        EtcdLeaseBackend {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct EtcdLeaseBackendShared {
    client: Client,
    config: EtcdLeaseConfig,
    clock: SharedClock,
}

impl fmt::Debug for EtcdLeaseBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdLeaseBackend")
            .field("endpoints", &self.inner.config.endpoints)
            .field("key_prefix", &self.inner.config.key_prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s) if i32::from(s.code()) == GRPC_UNAVAILABLE)
}

fn backend_err(e: etcd_client::Error) -> LeaseError {
    LeaseError::backend(BACKEND, e)
}

fn revision_token(rev: i64) -> Result<FencingToken, LeaseError> {
    u64::try_from(rev)
        .ok()
        .filter(|r| *r > 0)
        .map(FencingToken::new)
        .ok_or_else(|| LeaseError::backend(BACKEND, format!("etcd returned revision {rev}")))
}

/// TTL in whole seconds, rounded up (etcd's unit).
fn ttl_secs(ttl: Duration) -> i64 {
    let secs = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

impl EtcdLeaseBackend {
    /// Connects to the cluster (lazily: an unreachable cluster shows up as
    /// `Backend` errors on the first calls, which the elector retries).
    pub async fn connect(config: EtcdLeaseConfig) -> Result<Self, LeaseError> {
        Self::connect_with_clock(config, SystemClock).await
    }

    /// Like [`connect`](Self::connect), with `clock` for the local
    /// `expires_at` estimates (expiry itself is always etcd's).
    pub async fn connect_with_clock(
        config: EtcdLeaseConfig,
        clock: impl Clock,
    ) -> Result<Self, LeaseError> {
        config.validate()?;
        let options = ConnectOptions::new()
            .with_timeout(config.request_timeout)
            .with_connect_timeout(config.connect_timeout)
            .with_keep_alive(config.request_timeout, config.request_timeout)
            .with_require_leader(true);
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(backend_err)?;
        Ok(EtcdLeaseBackend {
            inner: Arc::new(EtcdLeaseBackendShared {
                client,
                config,
                clock: shared(clock),
            }),
        })
    }

    /// Replaced by [`connect_with_clock`](Self::connect_with_clock): the
    /// clock is given at construction, as everywhere in the suite.
    #[deprecated(since = "0.1.1", note = "use `EtcdLeaseBackend::connect_with_clock`")]
    #[doc(hidden)]
    pub fn with_clock(self, clock: impl Clock) -> Self {
        EtcdLeaseBackend {
            inner: Arc::new(EtcdLeaseBackendShared {
                client: self.inner.client.clone(),
                config: self.inner.config.clone(),
                clock: shared(clock),
            }),
        }
    }

    /// The underlying etcd client (cheap to clone), e.g. for health checks.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    fn key(&self, name: &str) -> String {
        format!("{}{}", self.inner.config.key_prefix, name)
    }

    /// Runs one etcd request, retrying it on another member when the one
    /// picked is unavailable.
    ///
    /// The client balances requests over every endpoint and keeps picking a
    /// dead member until it is back; without this, each operation would
    /// fail on it with a fair chance while one member of three is down.
    /// Every request this backend sends is safe to repeat: grants (an
    /// unused lease expires by itself), the create-if-absent transaction (a
    /// repeat finds the key and answers `Held`), keep-alives, revokes and
    /// reads.
    async fn rpc<T, F, Fut>(&self, mut request: F) -> Result<T, etcd_client::Error>
    where
        F: FnMut(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let mut attempts_left = self.inner.config.endpoints.len().max(1).saturating_add(1);
        loop {
            match request(self.inner.client.clone()).await {
                Err(e) if unavailable(&e) && attempts_left > 1 => {
                    attempts_left = attempts_left.saturating_sub(1)
                }
                other => return other,
            }
        }
    }

    async fn current(&self, name: &str) -> Result<Option<KeyValue>, LeaseError> {
        let key = self.key(name);
        let resp = self
            .rpc(|mut c| {
                let key = key.clone();
                async move { c.get(key, None).await }
            })
            .await
            .map_err(backend_err)?;
        Ok(resp.kvs().first().cloned())
    }

    async fn revoke(&self, id: i64) -> Result<(), etcd_client::Error> {
        match self
            .rpc(|mut c| async move { c.lease_revoke(id).await })
            .await
        {
            Ok(_) => Ok(()),
            // Expired meanwhile: nothing left to revoke.
            Err(etcd_client::Error::GRpcStatus(s)) if i32::from(s.code()) == GRPC_NOT_FOUND => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn time_to_live(&self, id: i64) -> Result<(i64, i64), etcd_client::Error> {
        self.rpc(|mut c| async move { c.lease_time_to_live(id, None).await })
            .await
            .map(|r| (r.ttl(), r.granted_ttl()))
    }

    fn is_tenure(kv: &KeyValue, lease: &Lease) -> bool {
        u64::try_from(kv.create_revision()).ok() == Some(lease.token.get())
            && kv.value() == lease.holder.as_bytes()
    }

    /// The `Held` answer for an existing key.
    async fn held(&self, name: &str, kv: &KeyValue) -> Result<LeaseError, LeaseError> {
        // etcd reports the remaining TTL truncated to whole seconds; a
        // failure here only makes the hint zero (campaign again soon).
        let remaining = self
            .time_to_live(kv.lease())
            .await
            .map(|(ttl, _)| secs(ttl))
            .unwrap_or_default();
        Ok(LeaseError::Held {
            name: name.to_string(),
            holder: String::from_utf8_lossy(kv.value()).into_owned(),
            token: revision_token(kv.create_revision())?,
            expires_in: remaining,
        })
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
        // A held lease (the common answer to a follower's campaign) costs
        // one read, not a lease grant and revoke through raft.
        if let Some(kv) = self.current(name).await? {
            return Err(self.held(name, &kv).await?);
        }
        let ttl_s = ttl_secs(ttl);
        let grant = self
            .rpc(|mut c| async move { c.lease_grant(ttl_s, None).await })
            .await
            .map_err(backend_err)?;
        let key = self.key(name);
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                holder,
                Some(PutOptions::new().with_lease(grant.id())),
            )])
            .or_else([TxnOp::get(key, None)]);
        let resp = match self
            .rpc(|mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await
        {
            Ok(resp) => resp,
            Err(e) => {
                let _ = self.revoke(grant.id()).await;
                return Err(backend_err(e));
            }
        };
        if resp.succeeded() {
            // The put is the transaction's only write: the revision it
            // created is the key's create revision, our token.
            let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
            let token = revision_token(rev)?;
            let granted = secs(grant.ttl());
            return Ok(Lease::new(
                name,
                holder,
                token,
                granted,
                instant_add(sent, granted),
            ));
        }
        // Taken meanwhile: hand the unused etcd lease back (it would expire anyway).
        let _ = self.revoke(grant.id()).await;
        let kv = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(get) => get.kvs().first().cloned(),
            _ => None,
        });
        match kv {
            Some(kv) => Err(self.held(name, &kv).await?),
            None => Err(LeaseError::backend(
                BACKEND,
                "the lease key vanished during the transaction; retry",
            )),
        }
    }

    async fn do_renew(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        validate_lease(lease)?;
        let sent = self.inner.clock.now();
        let kv = match self.current(&lease.name).await? {
            Some(kv) if Self::is_tenure(&kv, lease) && kv.lease() != 0 => kv,
            _ => return Err(LeaseError::lost(lease)),
        };
        let id = kv.lease();
        let timeout = self.inner.config.request_timeout;
        let answer = self
            .rpc(|mut c| async move {
                let (mut keeper, mut stream) = c.lease_keep_alive(id).await?;
                keeper.keep_alive().await?;
                match tokio::time::timeout(timeout, stream.message()).await {
                    Ok(answer) => answer,
                    Err(_) => Err(etcd_client::Error::LeaseKeepAliveError(
                        "no keep-alive answer within request_timeout".into(),
                    )),
                }
            })
            .await
            .map_err(backend_err)?;
        match answer {
            Some(r) if r.ttl() > 0 => {
                let ttl = secs(r.ttl());
                Ok(Lease::new(
                    lease.name.clone(),
                    lease.holder.clone(),
                    lease.token,
                    ttl,
                    instant_add(sent, ttl),
                ))
            }
            Some(_) => Err(LeaseError::lost(lease)),
            None => Err(LeaseError::backend(
                BACKEND,
                "the keep-alive stream closed without an answer",
            )),
        }
    }

    async fn do_release(&self, lease: &Lease) -> Result<(), LeaseError> {
        validate_lease(lease)?;
        match self.current(&lease.name).await? {
            Some(kv) if Self::is_tenure(&kv, lease) && kv.lease() != 0 => {
                self.revoke(kv.lease()).await.map_err(backend_err)
            }
            _ => Ok(()),
        }
    }

    async fn do_observe(&self, name: &str) -> Result<Option<Lease>, LeaseError> {
        validate_id("name", name)?;
        let sent = self.inner.clock.now();
        // The key exists exactly as long as its etcd lease: etcd deletes it
        // when the lease expires or is revoked.
        let Some(kv) = self.current(name).await? else {
            return Ok(None);
        };
        let (ttl, granted) = self.time_to_live(kv.lease()).await.map_err(backend_err)?;
        if ttl < 0 {
            return Ok(None); // expired; the key is being deleted
        }
        Ok(Some(Lease::new(
            name,
            String::from_utf8_lossy(kv.value()).into_owned(),
            revision_token(kv.create_revision())?,
            secs(granted),
            // Whole seconds, truncated by etcd: an underestimate, as documented.
            instant_add(sent, secs(ttl)),
        )))
    }
}

impl LeaseBackend for EtcdLeaseBackend {
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
    fn ttl_rounds_up_to_whole_seconds() {
        assert_eq!(ttl_secs(Duration::from_millis(1)), 1);
        assert_eq!(ttl_secs(Duration::from_secs(2)), 2);
        assert_eq!(ttl_secs(Duration::from_millis(2001)), 3);
        assert_eq!(secs(-1), Duration::ZERO);
    }

    #[test]
    fn revisions_must_be_positive() {
        assert!(revision_token(0).is_err());
        assert!(revision_token(-3).is_err());
        assert_eq!(revision_token(7).unwrap(), FencingToken::new(7));
    }

    #[test]
    fn config_validation_names_fields() {
        let mut c = EtcdLeaseConfig::new(["http://127.0.0.1:2379", "bad url"]);
        assert_eq!(c.validate().unwrap_err().field(), Some("endpoints[1]"));
        c.endpoints.pop();
        c.request_timeout = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().field(), Some("request_timeout"));
    }
}
