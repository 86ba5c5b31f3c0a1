//! The fleet store on etcd (feature `etcd`): compare-and-swap transactions
//! for the buckets, etcd leases as the TTL of views and probe leases.
//!
//! For teams that already run etcd (for leader election, say) and would
//! rather not operate a Redis for the fleet. Each operation is a read and
//! one transaction that writes only if the keys it read are unchanged
//! (their `mod_revision`); a transaction that loses the race reads the new
//! value in the same round trip and tries again, at most
//! [`MAX_ATTEMPTS`] times, then fails with [`FleetError::Unavailable`]
//! (the callers fall back to local state, as for any store failure).
//!
//! # Keys
//!
//! | key (under `key_prefix`, default `/resilience/fleet/`) | value | what |
//! |---|---|---|
//! | `budget/<key>` | `tokens` | tokens left in the bucket |
//! | `ratio/<key>` | `step:calls:retries,…` | the ratio window, ten steps |
//! | `rate/<key>` | `tokens\|at` | a rate bucket ([`FleetStore::lease_rate`]) |
//! | `breaker/<key>/views/<replica>` | `written\|view` | a replica's [`BreakerView`], on an etcd lease of `ttl` |
//! | `breaker/<key>/probes` | empty | the probe guard: every probe grant rewrites it, so grants are serialised |
//! | `breaker/<key>/probes/<replica>` | `expires` | a probe lease, on an etcd lease of `ttl` |
//!
//! # Time: there is no server clock
//!
//! Redis scripts read `TIME` on the server; etcd has no such call. This
//! store uses **the clock of the replica that writes** (the system clock,
//! µs since the Unix epoch), recorded in the value: a view's publication
//! time, a probe lease's end, a rate bucket's last token, a ratio window's
//! step. Expiry itself is etcd's (the lease of a view or a probe lease is
//! granted for `ttl` rounded up to whole seconds, and etcd deletes the key
//! when it ends); the recorded times make it finer than a second.
//! Consequences, with replicas whose clocks differ by `skew`:
//!
//! * a view's age is read by the reader's clock: it is off by `skew`
//!   (keep `skew` well under `view_ttl`; NTP gives milliseconds);
//! * a rate bucket written by a replica whose clock is ahead earns up to
//!   `skew / per_token` tokens early; the others earn nothing until their
//!   clocks pass the recorded time (the total stays within the rule, shifted
//!   by `skew`);
//! * a ratio window's steps are `ttl / 10` long: a skew of a step moves a
//!   replica's calls one step older or newer;
//! * a probe lease's end is the holder's clock plus `ttl`, read against the
//!   reader's clock: a lease may look `skew` longer or shorter to others
//!   (etcd still deletes it when its etcd lease ends).
//!
//! Bucket, ratio and rate keys carry no TTL (a few bytes each; an absent
//! bucket is a full one, so deleting them under `key_prefix` resets the
//! fleet's budgets). Each view exchange grants a fresh etcd lease for the
//! view, and the previous one ends by itself with no key left on it.
//!
//! # Latency
//!
//! Every write goes through etcd's raft log (and its disk sync): a bucket
//! lease is two round trips (read, transaction), a view exchange three
//! (lease grant, transaction, and a retry only under contention). Give the
//! budget and the breaker a `store_timeout` that covers a write on your
//! cluster (the 50 ms default suits Redis; 250 ms is a safer start on etcd).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, KeyValue, PutOptions, Txn, TxnOp,
    TxnOpResponse,
};
use resilience_core::config::{check_nonzero_duration, ConfigError};
use resilience_core::retry::RatioBudgetConfig;
use serde::{Deserialize, Serialize};

use super::{ratio_terms, BreakerView, FleetError, FleetFuture, FleetStore};

/// How many times an operation retries a transaction that lost a race.
pub const MAX_ATTEMPTS: u32 = 16;

fn default_prefix() -> String {
    "/resilience/fleet/".to_string()
}

const fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

/// Where and how to reach etcd.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `endpoints` | required | client URLs of the cluster members, e.g. `http://10.0.0.1:2379` |
/// | `key_prefix` | `/resilience/fleet/` | every key starts with it |
/// | `request_timeout` | `2s` | per gRPC request (the fleet's `store_timeout` is usually shorter) |
/// | `connect_timeout` | `2s` | per connection attempt |
///
/// ```
/// use resilience_store::fleet::etcd::EtcdFleetConfig;
/// let c: EtcdFleetConfig = resilience_core::config::from_yaml_str(
///     "endpoints: [http://127.0.0.1:2379]\nkey_prefix: /svc/fleet/\n",
/// )
/// .unwrap();
/// c.validate().unwrap();
/// assert_eq!(EtcdFleetConfig::new(Vec::<String>::new()).validate().unwrap_err().field(), Some("endpoints"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdFleetConfig {
    /// Client URLs of the cluster members.
    pub endpoints: Vec<String>,
    /// Prefix of every key.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Timeout of each request.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub request_timeout: Duration,
    /// Timeout of each connection attempt.
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub connect_timeout: Duration,
}

impl EtcdFleetConfig {
    /// A config for `endpoints` with the defaults.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        EtcdFleetConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            key_prefix: default_prefix(),
            request_timeout: default_timeout(),
            connect_timeout: default_timeout(),
        }
    }

    /// Sets `key_prefix`.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
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
        if self.key_prefix.is_empty() || self.key_prefix.chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                "key_prefix",
                format!(
                    "must be non-empty, without control characters, got {:?}",
                    self.key_prefix
                ),
            ));
        }
        check_nonzero_duration("request_timeout", self.request_timeout)?;
        check_nonzero_duration("connect_timeout", self.connect_timeout)
    }
}

/// A [`FleetStore`] on etcd; see the [module docs](self) for the keys,
/// the clock and the latency.
///
/// Cheap to clone (one client inside). The connection is made lazily: an
/// unreachable cluster shows as [`FleetError::Unavailable`] on calls, and
/// the fleet runs on local state until it answers.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use resilience_core::retry::TokenBucketConfig;
/// use resilience_store::fleet::etcd::{EtcdFleetConfig, EtcdFleetStore};
/// use resilience_store::fleet::{FleetBudget, FleetBudgetConfig};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = EtcdFleetStore::connect(EtcdFleetConfig::new(["http://127.0.0.1:2379"])).await?;
/// let config = FleetBudgetConfig::new("inventory", TokenBucketConfig::default())
///     .with_store_timeout(Duration::from_millis(250));
/// let budget = FleetBudget::start(config, Arc::new(store)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EtcdFleetStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: EtcdFleetConfig,
}

impl fmt::Debug for EtcdFleetStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdFleetStore")
            .field("endpoints", &self.inner.config.endpoints)
            .field("key_prefix", &self.inner.config.key_prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: etcd_client::Error) -> FleetError {
    FleetError::Unavailable(e.to_string())
}

/// µs since the Unix epoch by this machine's clock.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A TTL in whole seconds, rounded up (etcd's unit).
fn ttl_secs(ttl: Duration) -> i64 {
    let secs = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

fn text(kv: &KeyValue) -> Result<&str, FleetError> {
    kv.value_str().map_err(|_| {
        FleetError::Protocol(format!("a value of key {:?} is not UTF-8", kv.key_str()))
    })
}

/// The ratio window as stored: `step:calls:retries` per step.
fn decode_window(s: &str) -> Result<Vec<(u64, u64, u64)>, FleetError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|slot| {
            let mut p = slot.split(':').map(str::parse::<u64>);
            match (p.next(), p.next(), p.next(), p.next()) {
                (Some(Ok(e)), Some(Ok(q)), Some(Ok(r)), None) => Ok((e, q, r)),
                _ => Err(FleetError::Protocol(format!("ratio window {s:?}"))),
            }
        })
        .collect()
}

fn encode_window(w: &[(u64, u64, u64)]) -> String {
    w.iter()
        .map(|(e, q, r)| format!("{e}:{q}:{r}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl EtcdFleetStore {
    /// Checks `config` and makes the client (connecting lazily).
    pub async fn connect(config: EtcdFleetConfig) -> Result<EtcdFleetStore, ConfigError> {
        config.validate()?;
        let options = ConnectOptions::new()
            .with_timeout(config.request_timeout)
            .with_connect_timeout(config.connect_timeout)
            .with_keep_alive(config.request_timeout, config.request_timeout)
            .with_require_leader(true);
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|e| {
                ConfigError::invalid("endpoints", format!("cannot make an etcd client: {e}"))
            })?;
        Ok(EtcdFleetStore {
            inner: Arc::new(Inner { client, config }),
        })
    }

    /// The underlying etcd client (cheap to clone).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    fn key(&self, parts: &[&str]) -> String {
        format!("{}{}", self.inner.config.key_prefix, parts.join("/"))
    }

    /// Read-modify-write of one key: `update` maps its current value (`None`
    /// when absent) to the value to store and the answer. The write is a
    /// transaction that holds only if the key is unchanged since it was
    /// read; a lost race reads the new value in the same round trip.
    async fn update<T>(
        &self,
        key: String,
        mut update: impl FnMut(Option<&str>) -> Result<(String, T), FleetError>,
    ) -> Result<T, FleetError> {
        let mut c = self.inner.client.clone();
        let resp = c.get(key.as_str(), None).await.map_err(unavailable)?;
        let mut current: Option<KeyValue> = resp.kvs().first().cloned();
        for _ in 0..MAX_ATTEMPTS {
            let seen = current.as_ref().map(text).transpose()?;
            let (value, answer) = update(seen)?;
            if seen == Some(value.as_str()) {
                // Nothing changes (an empty bucket asked again): no write
                // through raft. The read was linearizable.
                return Ok(answer);
            }
            let unchanged = match &current {
                Some(kv) => {
                    Compare::mod_revision(key.as_str(), CompareOp::Equal, kv.mod_revision())
                }
                None => Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
            };
            let txn = Txn::new()
                .when([unchanged])
                .and_then([TxnOp::put(key.as_str(), value, None)])
                .or_else([TxnOp::get(key.as_str(), None)]);
            let resp = c.txn(txn).await.map_err(unavailable)?;
            if resp.succeeded() {
                return Ok(answer);
            }
            current = resp.op_responses().into_iter().find_map(|op| match op {
                TxnOpResponse::Get(g) => g.kvs().first().cloned(),
                _ => None,
            });
        }
        Err(FleetError::Unavailable(format!(
            "{key}: {MAX_ATTEMPTS} transactions lost the race to other replicas"
        )))
    }

    async fn grant(&self, ttl: Duration) -> Result<i64, FleetError> {
        let mut c = self.inner.client.clone();
        c.lease_grant(ttl_secs(ttl), None)
            .await
            .map(|g| g.id())
            .map_err(unavailable)
    }

    async fn do_lease_tokens(
        &self,
        key: &str,
        want: u32,
        capacity: u32,
    ) -> Result<u32, FleetError> {
        self.update(self.key(&["budget", key]), |v| {
            let tokens = match v {
                Some(t) => t
                    .parse::<u32>()
                    .map_err(|_| FleetError::Protocol(format!("bucket {t:?}")))?,
                None => capacity,
            };
            let grant = tokens.min(want);
            Ok(((tokens - grant).to_string(), grant))
        })
        .await
    }

    async fn do_return_tokens(
        &self,
        key: &str,
        tokens: u32,
        capacity: u32,
    ) -> Result<(), FleetError> {
        self.update(self.key(&["budget", key]), |v| {
            let held = match v {
                Some(t) => t
                    .parse::<u32>()
                    .map_err(|_| FleetError::Protocol(format!("bucket {t:?}")))?,
                None => capacity,
            };
            Ok((held.saturating_add(tokens).min(capacity).to_string(), ()))
        })
        .await
    }

    async fn do_lease_ratio(
        &self,
        key: &str,
        requests: u64,
        want: u32,
        rule: &RatioBudgetConfig,
    ) -> Result<u32, FleetError> {
        let (slot_ms, reserve_ppm, percent_ppm) = ratio_terms(rule);
        self.update(self.key(&["ratio", key]), |v| {
            let epoch = now_us() / 1000 / slot_ms + 1;
            let mut window = decode_window(v.unwrap_or(""))?;
            let grant = super::lease_from_window(
                &mut window,
                epoch,
                requests,
                want,
                reserve_ppm,
                percent_ppm,
            );
            Ok((encode_window(&window), grant))
        })
        .await
    }

    async fn do_exchange_views(
        &self,
        key: &str,
        view: &BreakerView,
        ttl: Duration,
    ) -> Result<Vec<BreakerView>, FleetError> {
        let lease = self.grant(ttl).await?;
        let dir = self.key(&["breaker", key, "views", ""]);
        let mine = format!("{dir}{}", view.replica);
        let txn = Txn::new().and_then([
            TxnOp::put(
                mine,
                format!("{}|{}", now_us(), view.encode()),
                Some(PutOptions::new().with_lease(lease)),
            ),
            TxnOp::get(dir.as_str(), Some(GetOptions::new().with_prefix())),
        ]);
        let mut c = self.inner.client.clone();
        let resp = c.txn(txn).await.map_err(unavailable)?;
        let now = now_us();
        let mut out = Vec::new();
        for op in resp.op_responses() {
            let TxnOpResponse::Get(g) = op else { continue };
            for kv in g.kvs() {
                let replica = kv
                    .key_str()
                    .map_err(|_| FleetError::Protocol("a replica id is not UTF-8".into()))?
                    .strip_prefix(dir.as_str())
                    .unwrap_or_default()
                    .to_string();
                let value = text(kv)?;
                let (written, encoded) = value
                    .split_once('|')
                    .ok_or_else(|| FleetError::Protocol(format!("view {value:?}")))?;
                let written: u64 = written
                    .parse()
                    .map_err(|_| FleetError::Protocol(format!("view {value:?}")))?;
                let age = Duration::from_micros(now.saturating_sub(written));
                // etcd's lease rounds the TTL up to a second: the recorded
                // time ages a view out on time.
                if age >= ttl {
                    continue;
                }
                out.push(BreakerView::decode(&replica, encoded, age)?);
            }
        }
        out.sort_by(|a, b| a.replica.cmp(&b.replica));
        Ok(out)
    }

    async fn do_acquire_probe(
        &self,
        key: &str,
        replica: &str,
        slots: u32,
        ttl: Duration,
    ) -> Result<bool, FleetError> {
        let guard = self.key(&["breaker", key, "probes"]);
        let dir = format!("{guard}/");
        let mine = format!("{dir}{replica}");
        let mut c = self.inner.client.clone();
        // The guard and every lease, in one read.
        let mut kvs = c
            .get(guard.as_str(), Some(GetOptions::new().with_prefix()))
            .await
            .map_err(unavailable)?
            .kvs()
            .to_vec();
        for _ in 0..MAX_ATTEMPTS {
            let now = now_us();
            let mut guard_rev = None;
            let mut held = 0u32;
            let mut mine_held = false;
            for kv in &kvs {
                let k = kv.key_str().unwrap_or_default();
                if k == guard {
                    guard_rev = Some(kv.mod_revision());
                } else if let Some(r) = k.strip_prefix(dir.as_str()) {
                    let live = text(kv)?.parse::<u64>().is_ok_and(|end| end > now);
                    if live {
                        held += 1;
                        mine_held |= r == replica;
                    }
                }
            }
            if !mine_held && held >= slots {
                return Ok(false);
            }
            let lease = self.grant(ttl).await?;
            let unchanged = match guard_rev {
                Some(rev) => Compare::mod_revision(guard.as_str(), CompareOp::Equal, rev),
                None => Compare::create_revision(guard.as_str(), CompareOp::Equal, 0),
            };
            let txn = Txn::new()
                .when([unchanged])
                .and_then([
                    TxnOp::put(guard.as_str(), "", None),
                    TxnOp::put(
                        mine.as_str(),
                        now.saturating_add(us(ttl)).to_string(),
                        Some(PutOptions::new().with_lease(lease)),
                    ),
                ])
                .or_else([TxnOp::get(
                    guard.as_str(),
                    Some(GetOptions::new().with_prefix()),
                )]);
            let resp = c.txn(txn).await.map_err(unavailable)?;
            if resp.succeeded() {
                return Ok(true);
            }
            // The unused etcd lease expires by itself.
            kvs = resp
                .op_responses()
                .into_iter()
                .find_map(|op| match op {
                    TxnOpResponse::Get(g) => Some(g.kvs().to_vec()),
                    _ => None,
                })
                .unwrap_or_default();
        }
        Err(FleetError::Unavailable(format!(
            "{guard}: {MAX_ATTEMPTS} transactions lost the race to other replicas"
        )))
    }

    async fn do_release_probe(&self, key: &str, replica: &str) -> Result<(), FleetError> {
        let mine = self.key(&["breaker", key, "probes", replica]);
        let mut c = self.inner.client.clone();
        c.txn(Txn::new().and_then([TxnOp::delete(mine, None)]))
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// `lease_rate` on the writing replica's clock (see the module docs).
    async fn do_lease_rate(
        &self,
        key: &str,
        want: u32,
        burst: u32,
        per_token: Duration,
    ) -> Result<u32, FleetError> {
        let per = super::rate::per_token_us(per_token);
        self.update(self.key(&["rate", key]), |v| {
            let bucket = match v {
                Some(t) => Some(
                    super::rate::decode(t)
                        .ok_or_else(|| FleetError::Protocol(format!("rate bucket {t:?}")))?,
                ),
                None => None,
            };
            let (grant, bucket) = super::rate::take(bucket, now_us(), want, burst, per);
            Ok((super::rate::encode(bucket), grant))
        })
        .await
    }
}

impl FleetStore for EtcdFleetStore {
    fn lease_tokens<'a>(&'a self, key: &'a str, want: u32, capacity: u32) -> FleetFuture<'a, u32> {
        Box::pin(self.do_lease_tokens(key, want, capacity))
    }

    fn lease_ratio<'a>(
        &'a self,
        key: &'a str,
        requests: u64,
        want: u32,
        rule: &'a RatioBudgetConfig,
    ) -> FleetFuture<'a, u32> {
        Box::pin(self.do_lease_ratio(key, requests, want, rule))
    }

    fn return_tokens<'a>(
        &'a self,
        key: &'a str,
        tokens: u32,
        capacity: u32,
    ) -> FleetFuture<'a, ()> {
        Box::pin(self.do_return_tokens(key, tokens, capacity))
    }

    fn exchange_views<'a>(
        &'a self,
        key: &'a str,
        view: &'a BreakerView,
        ttl: Duration,
    ) -> FleetFuture<'a, Vec<BreakerView>> {
        Box::pin(self.do_exchange_views(key, view, ttl))
    }

    fn acquire_probe<'a>(
        &'a self,
        key: &'a str,
        replica: &'a str,
        slots: u32,
        ttl: Duration,
    ) -> FleetFuture<'a, bool> {
        Box::pin(self.do_acquire_probe(key, replica, slots, ttl))
    }

    fn release_probe<'a>(&'a self, key: &'a str, replica: &'a str) -> FleetFuture<'a, ()> {
        Box::pin(self.do_release_probe(key, replica))
    }

    fn lease_rate<'a>(
        &'a self,
        key: &'a str,
        want: u32,
        burst: u32,
        per_token: Duration,
    ) -> FleetFuture<'a, u32> {
        Box::pin(self.do_lease_rate(key, want, burst, per_token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_window_reads_back_what_it_wrote() {
        let w = vec![(7, 120, 3), (8, 40, 0)];
        assert_eq!(decode_window(&encode_window(&w)).unwrap(), w);
        assert_eq!(decode_window("").unwrap(), vec![]);
        assert!(decode_window("7:1").is_err());
    }

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        assert_eq!(ttl_secs(Duration::from_millis(1)), 1);
        assert_eq!(ttl_secs(Duration::from_millis(3000)), 3);
        assert_eq!(ttl_secs(Duration::from_millis(3001)), 4);
    }
}
