//! The Redis Streams dead-letter store (feature `redis`).
//!
//! # Keys
//!
//! Every key of a queue carries the queue's name as a hash tag, so a
//! queue's keys live in one slot of a Redis Cluster and every operation is
//! one atomic script:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>:dlq:{<queue>}:ready` | stream + consumer group | letters to deliver and letters in flight (the group's pending entries) |
//! | `<prefix>:dlq:{<queue>}:retry` | stream | letters waiting for their retry backoff |
//! | `<prefix>:dlq:{<queue>}:retry_at` | sorted set | when each waiting letter is due (ms) |
//! | `<prefix>:dlq:{<queue>}:parked` | stream | parked (poison) letters |
//! | `<prefix>:dlq:{<queue>}:untried` | hash | letters handed back untried (so their next delivery is not counted as a reclaim) |
//!
//! An entry's fields: `p` payload (the codec's bytes), `k` idempotency key,
//! `o` ordering key, `r` reason, `f` first failure and `l` last failure
//! (ms since the epoch, by the server's clock), `n` replays before this
//! entry, `e` last error.
//!
//! # How each operation works
//!
//! - **enqueue**: `XADD` to the ready stream (after a capacity check, when
//!   one is set).
//! - **claim** (one script): moves due retries back to the ready stream;
//!   `XAUTOCLAIM`s entries pending longer than the lease (their consumer
//!   died or stalled), parking those delivered `max_replays` times; then
//!   `XREADGROUP ... >` for new entries. Each store is one consumer of the
//!   queue's consumer group (`group`, default `replayers`), named after the
//!   process and a random suffix; replayers sharing a group share the work.
//!   The lease is the idle time `XAUTOCLAIM` is given: on this backend it
//!   is the *claiming* replayer's lease that decides when another
//!   replayer's letter is taken over, so give every replayer of a group the
//!   same lease. In-flight counts include letters whose lease expired but
//!   that no claim has taken over yet.
//! - **ack**: `XACK` and `XDEL`, if the entry is still pending for this
//!   consumer under this delivery; otherwise `LeaseLost`.
//! - **release**: retry (the entry moves to the retry stream with its due
//!   time), untried (it stays pending with its idle time set past any lease,
//!   so the next claim takes it first), or park (moved to the parked stream).
//!
//! # Retention and limits
//!
//! Acknowledged entries are deleted at once (`XDEL`), so the ready stream
//! holds only live letters. Streams are never trimmed with `MAXLEN`:
//! trimming would drop unacknowledged letters silently. Set `capacity`
//! instead: enqueues beyond it are refused with `DeadLetterError::Full`,
//! letter in hand. Parked letters stay until purged. Memory is the payload
//! plus about 100 bytes of fields per letter.
//!
//! # Durability
//!
//! Run Redis with `appendonly yes`. With `appendfsync everysec` (the
//! default) a crash of the machine can lose the last second of writes; a
//! restart of Redis itself loses nothing. `appendfsync always` loses
//! nothing at a lower enqueue rate.
//!
//! # Ordering
//!
//! First deliveries follow enqueue order. A retried letter rejoins the
//! ready stream at the tail when its backoff ends, behind younger letters,
//! and concurrent replayers run in parallel: there is no per-key FIFO on
//! this backend (the ordering key is stored and returned for the host).

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use redis::{Script, ScriptInvocation, Value};
use resilience_core::dead_letter::{
    ClaimOptions, ClaimedLetter, DeadLetterError, DeadLetterEvent, DeadLetterReason,
    DeadLetterStore, JsonCodec, LetterCodec, LetterId, LetterState, NewLetter, Purge, QueueStats,
    Receipt, Release, StoreError, StoreFuture, StoreMetrics, StoreOp, StoredLetter,
};
use resilience_core::events::Listeners;

use super::{unavailable, QueueConfig};
use crate::connection::{check_key_part, ConnectError, RedisConfig};

const BACKEND: &str = "redis";

const HELPERS: &str = r#"
local function field(f, name)
  for i = 1, #f, 2 do if f[i] == name then return f[i + 1] end end
  return nil
end
local function with(f, updates)
  local out, seen = {}, {}
  for i = 1, #f, 2 do
    local k = f[i]
    out[#out + 1] = k
    if updates[k] ~= nil then out[#out + 1] = updates[k]; seen[k] = true else out[#out + 1] = f[i + 1] end
  end
  for k, v in pairs(updates) do if not seen[k] then out[#out + 1] = k; out[#out + 1] = v end end
  return out
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function owned(ready, group, consumer, id, token)
  local p = redis.call('XPENDING', ready, group, id, id, 1)
  return #p > 0 and p[1][2] == consumer and tostring(p[1][4]) == token
end
"#;

// KEYS: ready, retry, retry_at, parked. ARGV: capacity (0: none), p, k, o, r.
const ENQUEUE: &str = r#"
local cap = tonumber(ARGV[1])
if cap > 0 then
  local held = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[3]) + redis.call('XLEN', KEYS[4])
  if held >= cap then return false end
end
local now = string.format('%d', now_ms())
return redis.call('XADD', KEYS[1], '*', 'p', ARGV[2], 'k', ARGV[3], 'o', ARGV[4], 'r', ARGV[5],
  'f', now, 'l', now, 'n', '0', 'e', '')
"#;

// KEYS: ready, retry, retry_at, parked, untried. ARGV: group, consumer, count, lease ms, max_replays.
const CLAIM: &str = r#"
local now = now_ms()
local nows = string.format('%d', now)
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 512)
for _, did in ipairs(due) do
  local e = redis.call('XRANGE', KEYS[2], did, did)
  if #e > 0 then redis.call('XADD', KEYS[1], '*', unpack(e[1][2])) end
  redis.call('XDEL', KEYS[2], did)
  redis.call('ZREM', KEYS[3], did)
end
local count, maxr = tonumber(ARGV[3]), tonumber(ARGV[5])
local out, reclaimed, parked = {}, 0, {}
local ac = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], '0-0', 'COUNT', count)
for _, e in ipairs(ac[2]) do
  local id, f = e[1], e[2]
  if f then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    local deliveries = tonumber(p[1][4])
    local n = tonumber(field(f, 'n') or '0')
    local untried = redis.call('HDEL', KEYS[5], id) == 1
    if not untried then reclaimed = reclaimed + 1 end
    if (not untried) and n + deliveries - 1 >= maxr then
      local why = 'its lease expired after ' .. (n + deliveries - 1) ..
        ' deliveries without an acknowledgement (max_replays ' .. maxr .. ')'
      local pid = redis.call('XADD', KEYS[4], '*',
        unpack(with(f, {n = tostring(n + deliveries - 1), l = nows, e = why})))
      redis.call('XACK', KEYS[1], ARGV[1], id)
      redis.call('XDEL', KEYS[1], id)
      parked[#parked + 1] = pid
    else
      out[#out + 1] = {id, f, deliveries}
    end
  end
end
local want = count - #out
if want > 0 then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', want, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do out[#out + 1] = {e[1], e[2], 1} end
  end
end
return {out, reclaimed, parked}
"#;

// KEYS: ready, untried. ARGV: group, consumer, id, token.
const ACK: &str = r#"
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('HDEL', KEYS[2], ARGV[3])
return 1
"#;

// KEYS: ready, retry, retry_at, parked, untried.
// ARGV: group, consumer, id, token, kind (retry|untried|park), after ms, error.
const RELEASE: &str = r#"
local group, consumer, id, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not owned(KEYS[1], group, consumer, id, token) then return 0 end
local kind = ARGV[5]
if kind == 'untried' then
  redis.call('XCLAIM', KEYS[1], group, consumer, 0, id, 'IDLE', 100000000000,
    'RETRYCOUNT', tonumber(token) - 1, 'JUSTID')
  redis.call('HSET', KEYS[5], id, '1')
  return 1
end
local e = redis.call('XRANGE', KEYS[1], id, id)
if #e == 0 then return 0 end
local f = e[1][2]
local now = now_ms()
local replays = tostring(tonumber(field(f, 'n') or '0') + tonumber(token))
local updated = with(f, {n = replays, l = string.format('%d', now), e = ARGV[7]})
if kind == 'retry' then
  local did = redis.call('XADD', KEYS[2], '*', unpack(updated))
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), did)
else
  redis.call('XADD', KEYS[4], '*', unpack(updated))
end
redis.call('XACK', KEYS[1], group, id)
redis.call('XDEL', KEYS[1], id)
redis.call('HDEL', KEYS[5], id)
return 1
"#;

// KEYS: ready, retry, retry_at, parked, untried. ARGV: group.
const STATS: &str = r#"
local xlen = redis.call('XLEN', KEYS[1])
local pending = 0
local s = redis.pcall('XPENDING', KEYS[1], ARGV[1])
if type(s) == 'table' and s[1] then pending = tonumber(s[1]) end
-- letters handed back untried are pending but ready
pending = pending - redis.call('HLEN', KEYS[5])
local oldest = -1
for _, k in ipairs({KEYS[1], KEYS[2]}) do
  local h = redis.call('XRANGE', k, '-', '+', 'COUNT', 1)
  if #h > 0 then
    local f = tonumber(field(h[1][2], 'f') or '')
    if f and (oldest < 0 or f < oldest) then oldest = f end
  end
end
return {xlen - pending, redis.call('ZCARD', KEYS[3]), pending, redis.call('XLEN', KEYS[4]), oldest, now_ms()}
"#;

// KEYS: ready, retry, retry_at, parked, untried. ARGV: group, kind (parked|all).
const PURGE: &str = r#"
if ARGV[2] == 'parked' then
  local n = redis.call('XLEN', KEYS[4])
  redis.call('DEL', KEYS[4])
  return n
end
local n = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[3]) + redis.call('XLEN', KEYS[4])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
return n
"#;

struct Scripts {
    enqueue: Script,
    claim: Script,
    ack: Script,
    release: Script,
    stats: Script,
    purge: Script,
}

impl Scripts {
    fn new() -> Scripts {
        let s = |body: &str| Script::new(&format!("{HELPERS}{body}"));
        Scripts {
            enqueue: s(ENQUEUE),
            claim: s(CLAIM),
            ack: s(ACK),
            release: s(RELEASE),
            stats: s(STATS),
            purge: s(PURGE),
        }
    }
}

struct Keys {
    ready: String,
    retry: String,
    retry_at: String,
    parked: String,
    untried: String,
}

impl Keys {
    /// The keys of the queue `queue` under `prefix`: the queue's name is
    /// the hash tag of every one, so they share a Redis Cluster slot.
    fn new(prefix: &str, queue: &str) -> Keys {
        let base = format!("{prefix}:dlq:{{{queue}}}");
        Keys {
            ready: format!("{base}:ready"),
            retry: format!("{base}:retry"),
            retry_at: format!("{base}:retry_at"),
            parked: format!("{base}:parked"),
            untried: format!("{base}:untried"),
        }
    }

    /// A call of `script` with the queue's five keys, in the order every
    /// script that reads them all takes them (`KEYS[1]` ready, retry,
    /// retry_at, parked, `KEYS[5]` untried).
    fn all<'a>(&'a self, script: &'a Script) -> ScriptInvocation<'a> {
        let mut call = script.key(&self.ready);
        call.key(&self.retry)
            .key(&self.retry_at)
            .key(&self.parked)
            .key(&self.untried);
        call
    }
}

fn default_group() -> String {
    "replayers".to_string()
}

/// A [`DeadLetterStore`] on Redis Streams: a stream per queue, a consumer
/// group per set of replayers, `XAUTOCLAIM` of letters whose replayer died.
/// See the [module docs](self) for the keys and the guarantees.
///
/// Cheap to share (an `Arc` around it); one multiplexed connection that
/// reconnects by itself after a Redis restart.
///
/// ```no_run
/// use std::time::Duration;
/// use resilience_core::dead_letter::{ClaimOptions, DeadLetterReason, DeadLetterStore, NewLetter};
/// use resilience_store::connection::RedisConfig;
/// use resilience_store::dead_letter::QueueConfig;
/// use resilience_store::dead_letter::redis::RedisDeadLetterStore;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisDeadLetterStore::<String>::connect(
///     &RedisConfig::new("redis://127.0.0.1:6379/"),
///     QueueConfig::new("webhooks").with_capacity(1_000_000),
/// )
/// .await?;
/// store.enqueue(NewLetter::new("POST /hooks/42".to_string(), DeadLetterReason::CircuitOpen)).await?;
/// for letter in store.claim(ClaimOptions::new(32, Duration::from_secs(60))).await? {
///     // ... deliver letter.item, keyed by letter.idempotency_key ...
///     store.ack(letter.receipt()).await?;
/// }
/// # Ok(()) }
/// ```
pub struct RedisDeadLetterStore<T, C = JsonCodec> {
    conn: ConnectionManager,
    queue: Arc<str>,
    config: QueueConfig,
    keys: Keys,
    group: String,
    consumer: String,
    scripts: Scripts,
    codec: C,
    metrics: StoreMetrics,
    listeners: Listeners<DeadLetterEvent>,
    _item: PhantomData<fn(T) -> T>,
}

impl<T> RedisDeadLetterStore<T, JsonCodec>
where
    JsonCodec: LetterCodec<T>,
{
    /// Connects and creates the queue's consumer group (`replayers`) if
    /// missing; requests are stored as versioned JSON.
    pub async fn connect(
        connection: &RedisConfig,
        queue: QueueConfig,
    ) -> Result<Self, ConnectError> {
        RedisDeadLetterStore::connect_with(connection, queue, &default_group(), JsonCodec::new())
            .await
    }
}

impl<T, C: LetterCodec<T>> RedisDeadLetterStore<T, C> {
    /// Like [`connect`](RedisDeadLetterStore::connect), in consumer group
    /// `group` (replayers of one group share the letters; two groups would
    /// each deliver every letter) and storing requests with `codec`.
    pub async fn connect_with(
        connection: &RedisConfig,
        queue: QueueConfig,
        group: &str,
        codec: C,
    ) -> Result<Self, ConnectError> {
        queue.validate()?;
        check_key_part("group", group)?;
        let mut conn = connection.connect().await?;
        let keys = Keys::new(&connection.key_prefix, &queue.name);
        let created: redis::RedisResult<Value> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&keys.ready)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        if let Err(e) = created
            && e.code() != Some("BUSYGROUP")
        {
            return Err(ConnectError::Redis(format!(
                "creating consumer group {group} on {}: {e}",
                keys.ready
            )));
        }
        let name: Arc<str> = queue.name.as_str().into();
        Ok(RedisDeadLetterStore {
            conn,
            metrics: StoreMetrics::new(&name),
            queue: name,
            config: queue,
            keys,
            group: group.to_string(),
            consumer: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            scripts: Scripts::new(),
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

    /// This store's consumer name in the group.
    pub fn consumer(&self) -> &str {
        &self.consumer
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
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<Value> = self
            .scripts
            .enqueue
            .key(&self.keys.ready)
            .key(&self.keys.retry)
            .key(&self.keys.retry_at)
            .key(&self.keys.parked)
            .arg(self.config.capacity.unwrap_or(0))
            .arg(bytes)
            .arg(&letter.idempotency_key)
            .arg(letter.ordering_key.as_deref().unwrap_or(""))
            .arg(letter.reason.to_stored())
            .invoke_async(&mut conn)
            .await;
        match result {
            Ok(Value::Nil) => {
                self.metrics.rejected();
                Err(DeadLetterError::Full {
                    item,
                    queue: self.queue.clone(),
                    capacity: usize::try_from(self.config.capacity.unwrap_or(0))
                        .unwrap_or(usize::MAX),
                })
            }
            Ok(v) => match text(&v).as_deref().map(parse_id) {
                Some(Some(id)) => {
                    self.metrics.enqueued(1);
                    Ok(id)
                }
                _ => {
                    self.metrics.error(StoreOp::Enqueue);
                    Err(DeadLetterError::Unavailable {
                        item,
                        reason: format!(
                            "dead-letter store `{}` (redis): unexpected reply {v:?}",
                            self.queue
                        ),
                    })
                }
            },
            Err(e) => {
                self.metrics.error(StoreOp::Enqueue);
                Err(DeadLetterError::Unavailable {
                    item,
                    reason: format!("dead-letter store `{}` (redis): {e}", self.queue),
                })
            }
        }
    }

    fn letter(
        &self,
        id: LetterId,
        fields: &HashMap<String, Vec<u8>>,
        state: LetterState,
    ) -> Result<StoredLetter<T>, String> {
        let s = |k: &str| {
            fields
                .get(k)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let ms = |k: &str| {
            s(k).and_then(|v| v.parse::<u64>().ok())
                .map(|m| UNIX_EPOCH + Duration::from_millis(m))
        };
        let payload = fields.get("p").map(Vec::as_slice).unwrap_or_default();
        let item = self.codec.decode(payload).map_err(|e| e.to_string())?;
        let mut letter = StoredLetter::new(
            id,
            item,
            DeadLetterReason::from_stored(&s("r").unwrap_or_default()),
            s("k").unwrap_or_default(),
            ms("f").unwrap_or(UNIX_EPOCH),
        );
        letter.ordering_key = s("o").filter(|o| !o.is_empty());
        letter.replays = s("n").and_then(|n| n.parse().ok()).unwrap_or(0);
        letter.last_failed_at = ms("l").unwrap_or(letter.first_failed_at);
        letter.last_error = s("e").filter(|e| !e.is_empty());
        letter.state = state;
        Ok(letter)
    }

    async fn do_claim(&self, options: ClaimOptions) -> Result<Vec<ClaimedLetter<T>>, StoreError> {
        let op = StoreOp::Claim;
        if options.lease.is_zero() {
            return Err(StoreError::InvalidArgument {
                queue: self.queue.clone(),
                reason: "a claim's lease must be longer than 0s".into(),
            });
        }
        if options.max_letters == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let lease_ms = u64::try_from(options.lease.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let reply: Value = self
            .keys
            .all(&self.scripts.claim)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(options.max_letters)
            .arg(lease_ms)
            .arg(options.max_replays)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(op, e))?;
        let bad = |what: &str| self.fail(op, format!("unexpected claim reply ({what})"));
        let mut parts = array(reply).ok_or_else(|| bad("not an array"))?.into_iter();
        let entries = parts.next().and_then(array).unwrap_or_default();
        let reclaimed = parts.next().and_then(|v| int(&v)).unwrap_or(0);
        let parked = parts.next().and_then(array).unwrap_or_default();
        let mut out = Vec::with_capacity(entries.len());
        let mut undecodable = Vec::new();
        for entry in entries {
            let mut e = array(entry).ok_or_else(|| bad("entry"))?.into_iter();
            let id = e
                .next()
                .and_then(|v| text(&v))
                .and_then(|t| parse_id(&t))
                .ok_or_else(|| bad("id"))?;
            let fields = e.next().and_then(array).map(field_map).unwrap_or_default();
            let deliveries = e.next().and_then(|v| int(&v)).unwrap_or(1);
            match self.letter(id, &fields, LetterState::Claimed) {
                Ok(mut letter) => {
                    letter.replays = letter
                        .replays
                        .saturating_add(u32::try_from(deliveries).unwrap_or(u32::MAX));
                    let token = u64::try_from(deliveries).unwrap_or(0);
                    out.push(ClaimedLetter::new(letter, Receipt::new(id, token)));
                }
                Err(why) => undecodable.push((id, u64::try_from(deliveries).unwrap_or(0), why)),
            }
        }
        if reclaimed > 0 {
            self.metrics
                .reclaimed(u64::try_from(reclaimed).unwrap_or(0));
            self.listeners.emit_with(|| DeadLetterEvent::Reclaimed {
                queue: self.queue.clone(),
                count: usize::try_from(reclaimed).unwrap_or(0),
            });
        }
        let mut parked_now: Vec<(LetterId, String)> = parked
            .iter()
            .filter_map(|v| text(v).and_then(|t| parse_id(&t)))
            .map(|id| {
                (
                    id,
                    "its lease expired too many times without an acknowledgement".to_string(),
                )
            })
            .collect();
        for (id, token, why) in undecodable {
            let error = format!("undecodable: {why}");
            self.release_raw(id, token, "park", 0, &error)
                .await
                .map_err(|e| self.fail(op, e))?;
            parked_now.push((id, error));
        }
        if !parked_now.is_empty() {
            self.metrics.parked(parked_now.len() as u64);
            for (id, reason) in parked_now {
                self.listeners.emit_with(|| DeadLetterEvent::Parked {
                    queue: self.queue.clone(),
                    id,
                    reason,
                });
            }
        }
        Ok(out)
    }

    async fn release_raw(
        &self,
        id: LetterId,
        token: u64,
        kind: &str,
        after_ms: u64,
        error: &str,
    ) -> redis::RedisResult<i64> {
        let mut conn = self.conn.clone();
        self.keys
            .all(&self.scripts.release)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(stream_id(id))
            .arg(token)
            .arg(kind)
            .arg(after_ms)
            .arg(error)
            .invoke_async(&mut conn)
            .await
    }

    async fn do_ack(&self, receipt: Receipt) -> Result<(), StoreError> {
        let op = StoreOp::Ack;
        let mut conn = self.conn.clone();
        let n: i64 = self
            .scripts
            .ack
            .key(&self.keys.ready)
            .key(&self.keys.untried)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(stream_id(receipt.id()))
            .arg(receipt.token())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(op, e))?;
        if n == 0 {
            return Err(self.lease_lost(op, receipt.id()));
        }
        self.metrics.replayed();
        Ok(())
    }

    async fn do_release(&self, receipt: Receipt, release: Release) -> Result<(), StoreError> {
        let op = StoreOp::Release;
        let (kind, after, error) = match &release {
            Release::Retry { after, error } => ("retry", *after, error.as_str()),
            Release::Untried => ("untried", Duration::ZERO, ""),
            Release::Park { error } => ("park", Duration::ZERO, error.as_str()),
            _ => {
                return Err(StoreError::InvalidArgument {
                    queue: self.queue.clone(),
                    reason: "this release is not supported by the Redis store".into(),
                })
            }
        };
        let after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX / 4);
        let n = self
            .release_raw(receipt.id(), receipt.token(), kind, after_ms, error)
            .await
            .map_err(|e| self.fail(op, e))?;
        if n == 0 {
            return Err(self.lease_lost(op, receipt.id()));
        }
        match release {
            Release::Retry { .. } => self.metrics.replay_failed(),
            Release::Park { error } => {
                self.metrics.parked(1);
                self.listeners.emit_with(|| DeadLetterEvent::Parked {
                    queue: self.queue.clone(),
                    id: receipt.id(),
                    reason: error,
                });
            }
            _ => {}
        }
        Ok(())
    }

    async fn do_stats(&self) -> Result<QueueStats, StoreError> {
        let op = StoreOp::Stats;
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = self
            .keys
            .all(&self.scripts.stats)
            .arg(&self.group)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(op, e))?;
        let at = |i: usize| reply.get(i).copied().unwrap_or(0);
        let count = |i: usize| u64::try_from(at(i)).unwrap_or(0);
        let stats = QueueStats {
            ready: count(0),
            waiting: count(1),
            in_flight: count(2),
            parked: count(3),
            oldest_age: (at(4) >= 0)
                .then(|| Duration::from_millis(u64::try_from(at(5) - at(4)).unwrap_or(0))),
        };
        self.metrics.record_stats(&stats);
        Ok(stats)
    }

    async fn do_parked(&self, limit: usize) -> Result<Vec<StoredLetter<T>>, StoreError> {
        let op = StoreOp::Parked;
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("XRANGE")
            .arg(&self.keys.parked)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(limit.max(1))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail(op, e))?;
        let mut out = Vec::new();
        for entry in array(reply).unwrap_or_default().into_iter().take(limit) {
            let mut e = array(entry).unwrap_or_default().into_iter();
            let Some(id) = e.next().and_then(|v| text(&v)).and_then(|t| parse_id(&t)) else {
                continue;
            };
            let fields = e.next().and_then(array).map(field_map).unwrap_or_default();
            // A parked letter that does not decode is skipped here (it
            // stays parked; `purge` removes it).
            if let Ok(letter) = self.letter(id, &fields, LetterState::Parked) {
                out.push(letter);
            }
        }
        Ok(out)
    }

    async fn do_purge(&self, purge: Purge) -> Result<u64, StoreError> {
        let op = StoreOp::Purge;
        let mut conn = self.conn.clone();
        let n: i64 = self
            .keys
            .all(&self.scripts.purge)
            .arg(&self.group)
            .arg(if purge == Purge::Parked {
                "parked"
            } else {
                "all"
            })
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.fail(op, e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn stream_id(id: LetterId) -> String {
    format!("{}-{}", id.high(), id.low())
}

fn parse_id(s: &str) -> Option<LetterId> {
    s.parse().ok()
}

fn array(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) | Value::Set(a) => Some(a),
        Value::Nil => Some(Vec::new()),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => text(other).and_then(|t| t.parse().ok()),
    }
}

fn field_map(fields: Vec<Value>) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut it = fields.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let v = match v {
            Value::BulkString(b) => b,
            other => text(&other).unwrap_or_default().into_bytes(),
        };
        if let Some(k) = text(&k) {
            out.insert(k, v);
        }
    }
    out
}

impl<T, C> DeadLetterStore<T> for RedisDeadLetterStore<T, C>
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
        Box::pin(self.do_ack(receipt))
    }

    fn release(
        &self,
        receipt: Receipt,
        release: Release,
    ) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(self.do_release(receipt, release))
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

impl<T, C> fmt::Debug for RedisDeadLetterStore<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: not shown.
        f.debug_struct("RedisDeadLetterStore")
            .field("queue", &self.queue)
            .field("stream", &self.keys.ready)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("capacity", &self.config.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    /// The part of `key` Redis Cluster hashes: the text between the first
    /// `{` and the next `}` when it is not empty, else the whole key.
    fn hashed_part(key: &str) -> &str {
        let tag = key.find('{').and_then(|open| {
            let rest = &key[open + 1..];
            rest.find('}')
                .filter(|&len| len > 0)
                .map(|len| &rest[..len])
        });
        tag.unwrap_or(key)
    }

    #[test]
    fn every_key_of_a_queue_hashes_on_the_queue_name() {
        let k = Keys::new("resilience", "payments.dlq");
        assert_eq!(k.ready, "resilience:dlq:{payments.dlq}:ready");
        // Every script takes a subset of these five keys (`Keys::all`).
        for key in [&k.ready, &k.retry, &k.retry_at, &k.parked, &k.untried] {
            assert_eq!(
                hashed_part(key),
                "payments.dlq",
                "{key} shares the queue's slot"
            );
        }
    }
}
