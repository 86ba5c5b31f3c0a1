//! The fleet store on Redis: Lua scripts, one round trip per operation.
//!
//! | key | type | what |
//! |---|---|---|
//! | `<prefix>:fleet:budget:{<key>}` | string | tokens left in the bucket (expires after a day unused) |
//! | `<prefix>:fleet:ratio:{<key>}` | hash | calls (`q{step}`) and retries (`r{step}`) per step of the ratio window |
//! | `<prefix>:fleet:breaker:{<key>}:views` | hash | replica → its encoded [`BreakerView`] |
//! | `<prefix>:fleet:breaker:{<key>}:seen` | sorted set | replica → when it last reported (the server's clock, ms) |
//! | `<prefix>:fleet:breaker:{<key>}:probes` | sorted set | replica → when its probe lease ends (ms) |
//! | `<prefix>:fleet:rate:{<key>}` | string | the rate bucket's theoretical arrival time (the server's clock, µs): full when absent or past; expires once the bucket is full again |
//!
//! Every script reads time with `TIME` on the server, so the replicas'
//! clocks need not agree. Scripts run by `EVALSHA` (loaded again after a
//! server restart). The braces are a Redis Cluster hash tag: every key of
//! one budget or breaker hashes on its name alone, so they share a slot
//! and no script mixes slots (Redis Cluster refuses that with `CROSSSLOT`);
//! different budgets and breakers spread over the slots. The store itself
//! talks to one server (a standalone Redis, or a primary with replicas).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;
use resilience_core::config::ConfigError;
use resilience_core::retry::RatioBudgetConfig;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{ratio_terms, BreakerView, FleetError, FleetFuture, FleetStore};
use crate::connection::RedisConfig;

const DAY_MS: u64 = 86_400_000;

const LEASE: &str = r"
local t = redis.call('GET', KEYS[1])
local tokens = t and tonumber(t) or tonumber(ARGV[2])
local grant = math.min(tokens, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], tokens - grant, 'PX', ARGV[3])
return grant
";

const RETURN: &str = r"
local t = redis.call('GET', KEYS[1])
local cap = tonumber(ARGV[2])
local tokens = t and tonumber(t) or cap
tokens = math.min(cap, tokens + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], tokens, 'PX', ARGV[3])
return tokens
";

const RATIO: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = math.floor(now / tonumber(ARGV[3])) + 1
local oldest = epoch - 9
local req = tonumber(ARGV[1])
if req > 0 then redis.call('HINCRBY', KEYS[1], 'q' .. epoch, req) end
local calls, retries = 0, 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local f = fields[i]
  local e = tonumber(string.sub(f, 2))
  local v = tonumber(fields[i + 1])
  if e < oldest then
    redis.call('HDEL', KEYS[1], f)
  elseif string.sub(f, 1, 1) == 'q' then
    calls = calls + v
  else
    retries = retries + v
  end
end
local allowed = math.floor((tonumber(ARGV[4]) + tonumber(ARGV[5]) * calls) / 1000000) - retries
local grant = math.max(0, math.min(tonumber(ARGV[2]), allowed))
if grant > 0 then redis.call('HINCRBY', KEYS[1], 'r' .. epoch, grant) end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return grant
";

/// The rate bucket as GCRA: the key holds the instant (server time, µs)
/// at which the bucket would be full again; it holds
/// `(now + burst·per - tat) / per` tokens. Absent or past means full, so
/// the key expires (a second after) the bucket fills up.
const RATE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local want = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local per = tonumber(ARGV[3])
local v = redis.call('GET', KEYS[1])
local tat = v and tonumber(v) or now
if tat < now then tat = now end
local held = math.floor((now + burst * per - tat) / per)
local grant = math.max(0, math.min(want, held))
if grant > 0 then
  tat = tat + grant * per
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
end
return grant
";

const EXCHANGE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
for _, r in ipairs(stale) do
  redis.call('HDEL', KEYS[1], r)
  redis.call('ZREM', KEYS[2], r)
end
redis.call('PEXPIRE', KEYS[1], ttl * 10)
redis.call('PEXPIRE', KEYS[2], ttl * 10)
local out = {}
local seen = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #seen, 2 do
  local v = redis.call('HGET', KEYS[1], seen[i])
  if v then
    out[#out + 1] = seen[i]
    out[#out + 1] = v
    out[#out + 1] = tostring(now - tonumber(seen[i + 1]))
  end
end
return out
";

const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ttl = tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return 1
end
return 0
";

/// A [`FleetStore`] on Redis (feature `redis`).
///
/// Connects on first use and reconnects by itself after a server restart;
/// until then every call fails with [`FleetError::Unavailable`] and the
/// budget and breakers run on local state. Cloning is cheap (a handle on
/// one multiplexed connection).
///
/// ```no_run
/// use std::sync::Arc;
/// use resilience_core::retry::TokenBucketConfig;
/// use resilience_store::connection::RedisConfig;
/// use resilience_store::fleet::redis::RedisFleetStore;
/// use resilience_store::fleet::{FleetBudget, FleetBudgetConfig};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = Arc::new(RedisFleetStore::new(&RedisConfig::new("redis://127.0.0.1:6379/")).unwrap());
/// let budget = FleetBudget::start(FleetBudgetConfig::new("inventory", TokenBucketConfig::default()), store)
///     .await
///     .unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct RedisFleetStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    conn: Mutex<Option<ConnectionManager>>,
    /// A connection attempt runs (on its own task).
    connecting: AtomicBool,
    /// Wakes the callers waiting for that attempt.
    attempted: Notify,
    /// Why the last attempt failed.
    last_error: Mutex<Option<String>>,
    lease: Script,
    ratio: Script,
    give_back: Script,
    exchange: Script,
    acquire: Script,
    rate: Script,
}

impl std::fmt::Debug for RedisFleetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFleetStore")
            .field("key_prefix", &self.inner.config.key_prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> FleetError {
    FleetError::Unavailable(e.to_string())
}

impl RedisFleetStore {
    /// A store on `config`'s server; checks the config, connects on first
    /// use.
    pub fn new(config: &RedisConfig) -> Result<RedisFleetStore, ConfigError> {
        config.validate()?;
        Ok(RedisFleetStore {
            inner: Arc::new(Inner {
                config: config.clone(),
                conn: Mutex::new(None),
                connecting: AtomicBool::new(false),
                attempted: Notify::new(),
                last_error: Mutex::new(None),
                lease: Script::new(LEASE),
                ratio: Script::new(RATIO),
                give_back: Script::new(RETURN),
                exchange: Script::new(EXCHANGE),
                acquire: Script::new(ACQUIRE),
                rate: Script::new(RATE),
            }),
        })
    }

    /// The connection; the first call connects. The attempt runs on a
    /// task of its own, so it completes even when the caller's short
    /// timeout (`store_timeout`) gives up on it first: a server farther
    /// away than one timeout is connected to by a later call.
    async fn conn(&self) -> Result<ConnectionManager, FleetError> {
        if let Some(c) = &*self.inner.conn.lock() {
            return Ok(c.clone());
        }
        // Registered before the attempt starts, so its end is not missed.
        let attempted = self.inner.attempted.notified();
        if !self.inner.connecting.swap(true, Ordering::AcqRel) {
            let inner = self.inner.clone();
            tokio::spawn(async move {
                match inner.config.connect().await {
                    Ok(c) => *inner.conn.lock() = Some(c),
                    Err(e) => *inner.last_error.lock() = Some(e.to_string()),
                }
                inner.connecting.store(false, Ordering::Release);
                inner.attempted.notify_waiters();
            });
        }
        attempted.await;
        match &*self.inner.conn.lock() {
            Some(c) => Ok(c.clone()),
            None => Err(FleetError::Unavailable(
                self.inner
                    .last_error
                    .lock()
                    .clone()
                    .unwrap_or_else(|| "not connected".to_string()),
            )),
        }
    }

    fn key(&self, parts: &[&str]) -> String {
        super::redis_keys::fleet_key(&self.inner.config.key_prefix, parts)
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl FleetStore for RedisFleetStore {
    fn lease_tokens<'a>(&'a self, key: &'a str, want: u32, capacity: u32) -> FleetFuture<'a, u32> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            self.inner
                .lease
                .key(self.key(&["budget", key]))
                .arg(want)
                .arg(capacity)
                .arg(DAY_MS)
                .invoke_async::<u32>(&mut c)
                .await
                .map_err(unavailable)
        })
    }

    fn lease_ratio<'a>(
        &'a self,
        key: &'a str,
        requests: u64,
        want: u32,
        rule: &'a RatioBudgetConfig,
    ) -> FleetFuture<'a, u32> {
        Box::pin(async move {
            let (slot_ms, reserve_ppm, percent_ppm) = ratio_terms(rule);
            let mut c = self.conn().await?;
            self.inner
                .ratio
                .key(self.key(&["ratio", key]))
                .arg(requests)
                .arg(want)
                .arg(slot_ms)
                .arg(reserve_ppm.to_string())
                .arg(percent_ppm.to_string())
                .arg(slot_ms.saturating_mul(20))
                .invoke_async::<u32>(&mut c)
                .await
                .map_err(unavailable)
        })
    }

    fn return_tokens<'a>(
        &'a self,
        key: &'a str,
        tokens: u32,
        capacity: u32,
    ) -> FleetFuture<'a, ()> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            self.inner
                .give_back
                .key(self.key(&["budget", key]))
                .arg(tokens)
                .arg(capacity)
                .arg(DAY_MS)
                .invoke_async::<u32>(&mut c)
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
    }

    fn exchange_views<'a>(
        &'a self,
        key: &'a str,
        view: &'a BreakerView,
        ttl: Duration,
    ) -> FleetFuture<'a, Vec<BreakerView>> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            let flat: Vec<String> = self
                .inner
                .exchange
                .key(self.key(&["breaker", key, "views"]))
                .key(self.key(&["breaker", key, "seen"]))
                .arg(&view.replica)
                .arg(view.encode())
                .arg(ms(ttl))
                .invoke_async(&mut c)
                .await
                .map_err(unavailable)?;
            flat.chunks(3)
                .map(|t| match t {
                    [replica, text, age] => {
                        let age = age
                            .parse::<i64>()
                            .map_err(|_| FleetError::Protocol(format!("view age {age:?}")))?;
                        let age = Duration::from_millis(u64::try_from(age).unwrap_or(0));
                        BreakerView::decode(replica, text, age)
                    }
                    _ => Err(FleetError::Protocol("a view triple was cut short".into())),
                })
                .collect()
        })
    }

    fn acquire_probe<'a>(
        &'a self,
        key: &'a str,
        replica: &'a str,
        slots: u32,
        ttl: Duration,
    ) -> FleetFuture<'a, bool> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            self.inner
                .acquire
                .key(self.key(&["breaker", key, "probes"]))
                .arg(replica)
                .arg(slots)
                .arg(ms(ttl))
                .invoke_async::<i64>(&mut c)
                .await
                .map(|n| n == 1)
                .map_err(unavailable)
        })
    }

    fn release_probe<'a>(&'a self, key: &'a str, replica: &'a str) -> FleetFuture<'a, ()> {
        Box::pin(async move {
            let mut c = self.conn().await?;
            redis::cmd("ZREM")
                .arg(self.key(&["breaker", key, "probes"]))
                .arg(replica)
                .query_async::<i64>(&mut c)
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
    }

    fn lease_rate<'a>(
        &'a self,
        key: &'a str,
        want: u32,
        burst: u32,
        per_token: Duration,
    ) -> FleetFuture<'a, u32> {
        Box::pin(async move {
            // The script counts in microseconds of the server's clock.
            let per_us = u64::try_from(per_token.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            let mut c = self.conn().await?;
            self.inner
                .rate
                .key(self.key(&["rate", key]))
                .arg(want)
                .arg(burst)
                .arg(per_us)
                .invoke_async::<u32>(&mut c)
                .await
                .map_err(unavailable)
        })
    }
}
