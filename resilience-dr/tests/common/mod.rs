//! Helpers shared by resilience-dr's integration tests: the lease-backend
//! contract every backend must pass (in memory, etcd, PostgreSQL), and the
//! tools of the tests that run against real servers (started by
//! `scripts/services.sh start`, environment in `.test-services/env`).
#![allow(dead_code, unreachable_pub)] // each test crate uses a subset

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use resilience_dr::lease::{
    ElectionEvent, ElectorConfig, ElectorHandle, FencedResource, FencingToken, LeaderElector,
    Lease, LeaseBackend, LeaseError, LeaseFuture,
};

/// The value of `var`, or `None` after printing why the test is skipped.
/// Panics instead when `RESILIENCE_REQUIRE_SERVERS=1` (CI): there, a missing
/// server is a failure, not a skip.
pub fn server_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            let why = format!(
                "{var} is not set: no test server. Start them with `scripts/services.sh start && \
                 . .test-services/env` (or run scripts/test.sh)"
            );
            if require_servers() {
                panic!("{why}; RESILIENCE_REQUIRE_SERVERS=1 makes this a failure");
            }
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

pub fn require_servers() -> bool {
    std::env::var("RESILIENCE_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// A lease name no earlier run or parallel test uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Short timings for the real-server tests: TTL 2 s, renew every 400 ms,
/// retry for 600 ms (400 ms + 2 × 600 ms < 2 s).
pub const TTL: Duration = Duration::from_secs(2);

/// Timings with more room for the backend's own hiccups (an etcd member
/// lost, a raft election): TTL 3 s, renew every 500 ms, retry for 1 s.
pub fn tolerant_config(lease: &str, id: &str) -> ElectorConfig {
    ElectorConfig::new(lease, id)
        .ttl(Duration::from_secs(3))
        .renew_interval(Duration::from_millis(500))
        .retry_timeout(Duration::from_secs(1))
}

pub fn fast_config(lease: &str, id: &str) -> ElectorConfig {
    ElectorConfig::new(lease, id)
        .ttl(TTL)
        .renew_interval(Duration::from_millis(400))
        .retry_timeout(Duration::from_millis(600))
}

/// A backend whose network can be cut: while cut, every call fails at once.
/// It also keeps a journal of failed calls (other than `Held`), printed
/// when a test fails.
#[derive(Debug)]
pub struct Partitionable<B> {
    inner: B,
    cut: AtomicBool,
    created: Instant,
    journal: Mutex<Vec<String>>,
}

impl<B: Sync> Partitionable<B> {
    pub fn new(inner: B) -> Arc<Self> {
        Arc::new(Partitionable {
            inner,
            cut: AtomicBool::new(false),
            created: Instant::now(),
            journal: Mutex::new(Vec::new()),
        })
    }
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
    pub fn journal(&self) -> Vec<String> {
        self.journal.lock().unwrap().clone()
    }
    fn call<'a, T: Send + 'a>(
        &'a self,
        op: &'static str,
        f: impl FnOnce() -> LeaseFuture<'a, T>,
    ) -> LeaseFuture<'a, T> {
        if self.cut.load(Ordering::SeqCst) {
            return Box::pin(async {
                Err(LeaseError::backend("test", "network partition (injected)"))
            });
        }
        let fut = f();
        Box::pin(async move {
            let t = Instant::now();
            let out = fut.await;
            if let Err(e) = &out {
                if !matches!(e, LeaseError::Held { .. }) {
                    self.journal.lock().unwrap().push(format!(
                        "{op} at +{:?} failed after {:?}: {e}",
                        t - self.created,
                        t.elapsed()
                    ));
                }
            }
            out
        })
    }
}

impl<B: LeaseBackend> LeaseBackend for Partitionable<B> {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> LeaseFuture<'a, Lease> {
        self.call("acquire", || self.inner.acquire(name, holder, ttl))
    }
    fn renew<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, Lease> {
        self.call("renew", || self.inner.renew(lease))
    }
    fn release<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, ()> {
        self.call("release", || self.inner.release(lease))
    }
    fn observe<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, Option<Lease>> {
        self.call("observe", || self.inner.observe(name))
    }
}

/// Events of one candidate with the wall-clock instant they happened.
pub type EventLog = Arc<Mutex<Vec<(Instant, ElectionEvent)>>>;

/// When `kind` first happened in `log`.
pub fn first(log: &EventLog, kind: &str) -> Option<Instant> {
    let log = log.lock().unwrap();
    log.iter().find(|(_, e)| e.kind() == kind).map(|(t, _)| *t)
}

pub fn start<B: LeaseBackend + 'static>(
    backend: Arc<B>,
    cfg: ElectorConfig,
) -> (ElectorHandle, EventLog) {
    let log: EventLog = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let elector = LeaderElector::with_shared_backend(backend, cfg).expect("valid elector config");
    elector
        .listeners()
        .add_fn(move |e: &ElectionEvent| sink.lock().unwrap().push((Instant::now(), e.clone())));
    (elector.start().expect("inside a tokio runtime"), log)
}

/// Waits until `h` leads, at most `within`.
pub async fn lead_within(h: &ElectorHandle, within: Duration) -> Option<FencingToken> {
    let mut view = h.view();
    tokio::time::timeout(within, view.wait_for_leadership())
        .await
        .ok()
        .flatten()
}

/// Samples two candidates every 10 ms until dropped and records any instant
/// both offered a token (split brain).
pub struct SplitBrainMonitor {
    task: tokio::task::JoinHandle<()>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl SplitBrainMonitor {
    pub fn watch(a: &ElectorHandle, b: &ElectorHandle) -> Self {
        let (va, vb) = (a.view(), b.view());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                if let (Some(ta), Some(tb)) = (va.token(), vb.token()) {
                    sink.lock()
                        .unwrap()
                        .push(format!("both lead: a with {ta}, b with {tb}"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        SplitBrainMonitor { task, seen }
    }

    pub fn assert_none(self) {
        self.task.abort();
        let seen = self.seen.lock().unwrap();
        assert!(seen.is_empty(), "split brain observed: {seen:?}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// The leader's process dies: no release, no demotion; its lease must expire.
    Crash,
    /// The leader is cut off from the backend: it must demote itself before
    /// its lease can expire, while the follower waits for the expiry.
    Partition,
}

/// Two candidates on `make()`'d backends; the leader is killed; the other
/// must take over within TTL + 1 s with a larger token, and the fenced
/// resource must refuse every write carrying the deposed leader's token.
pub async fn takeover<B, F, Fut>(make: F, kill: Kill)
where
    B: LeaseBackend + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = B>,
{
    let lease = unique("takeover");
    let (ba, bb) = (
        Partitionable::new(make().await),
        Partitionable::new(make().await),
    );
    let (a, log_a) = start(ba.clone(), fast_config(&lease, "node-a"));
    let token_a = lead_within(&a, Duration::from_secs(5))
        .await
        .expect("the first candidate leads an uncontended lease");
    let (b, log_b) = start(bb.clone(), fast_config(&lease, "node-b"));
    let monitor = SplitBrainMonitor::watch(&a, &b);

    let fenced = FencedResource::named("takeover-test", Vec::<&str>::new());
    fenced.write(token_a, |log| log.push("a")).unwrap();
    // b keeps campaigning against a held lease for a while and loses.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        a.is_leader() && !b.is_leader(),
        "a should lead and b follow; a's failed calls: {:#?}; b's: {:#?}",
        ba.journal(),
        bb.journal()
    );
    assert_eq!(a.token(), Some(token_a), "renewals keep the token");

    let killed_at = Instant::now();
    let a_view = a.view();
    let a = match kill {
        Kill::Crash => {
            a.abort();
            None
        }
        Kill::Partition => {
            ba.cut();
            Some(a)
        }
    };
    let token_b = lead_within(&b, TTL + Duration::from_secs(3)).await;
    let took = killed_at.elapsed();
    let token_b = token_b.unwrap_or_else(|| {
        panic!(
            "the follower did not take over within {took:?}; its failed calls: {:#?}",
            bb.journal()
        )
    });
    let elected_b = first(&log_b, "elected").expect("b's election was recorded");
    let b_events: Vec<_> = log_b
        .lock()
        .unwrap()
        .iter()
        .map(|(t, e)| (t.saturating_duration_since(killed_at), e.kind()))
        .collect();
    assert!(
        took <= TTL + Duration::from_secs(1),
        "takeover took {took:?}, more than TTL + 1 s; b's failed calls: {:#?}; b's events since the kill: {b_events:?}",
        bb.journal(),
    );
    assert!(
        token_b > token_a,
        "tokens increase: {token_a} then {token_b}"
    );
    fenced.write(token_b, |log| log.push("b")).unwrap();
    for _ in 0..20 {
        let err = fenced
            .write(token_a, |log| log.push("stale a"))
            .unwrap_err();
        assert!(err.to_string().contains("step down"));
    }
    assert_eq!(fenced.read(|log| log.clone()), vec!["a", "b"]);

    if let Some(a) = a {
        // The partitioned leader demoted itself before b was elected.
        let demoted_a = first(&log_a, "demoted").expect("the partitioned leader demoted itself");
        assert!(demoted_a < elected_b, "a demoted after b was elected");
        assert_eq!(a_view.token(), None);
        // Healed, it finds b's lease and stays a follower.
        ba.heal();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!a.is_leader() && b.is_leader());
        monitor.assert_none();
        a.stop().await;
    } else {
        monitor.assert_none();
    }
    b.stop().await;
}

/// The contract every [`LeaseBackend`] keeps, checked on a fresh lease name:
/// one holder at a time (even the same holder id cannot take a held lease
/// twice), observe and renew keep the token, release frees the lease at once
/// and a stale release changes nothing, tokens strictly increase across
/// tenures, and a lease that is not renewed expires within `expiry_within`
/// (after which its holder's renew is refused).
///
/// `exact_ttl`: the backend grants exactly the TTL asked (etcd rounds up to
/// whole seconds, so it only promises at least the TTL asked).
///
/// Waits use tokio's clock, so a backend on `TokioClock` runs this under
/// `tokio::time::pause()` without sleeping for real.
pub async fn lease_backend_contract<B: LeaseBackend + ?Sized>(
    b: &B,
    name: &str,
    ttl: Duration,
    exact_ttl: bool,
    expiry_within: Duration,
) {
    // One holder at a time.
    let a = b.acquire(name, "a", ttl).await.unwrap();
    assert_eq!((a.name.as_str(), a.holder.as_str()), (name, "a"));
    if exact_ttl {
        assert_eq!(a.ttl, ttl, "the TTL asked for is the TTL granted");
    } else {
        assert!(a.ttl >= ttl, "at least the TTL asked for is granted");
    }
    match b.acquire(name, "b", ttl).await {
        Err(LeaseError::Held {
            holder,
            token,
            expires_in,
            ..
        }) => {
            assert_eq!(holder, "a");
            assert_eq!(token, a.token);
            assert!(
                expires_in <= a.ttl,
                "{expires_in:?} left of a {:?} lease",
                a.ttl
            );
        }
        other => panic!("expected Held, got {other:?}"),
    }
    assert!(
        matches!(
            b.acquire(name, "a", ttl).await,
            Err(LeaseError::Held { .. })
        ),
        "even the same holder id cannot take a held lease twice"
    );

    // Observe and renew keep the tenure's token.
    let observed = b.observe(name).await.unwrap().expect("the lease is held");
    assert_eq!((observed.holder.as_str(), observed.token), ("a", a.token));
    let renewed = b.renew(&a).await.unwrap();
    assert_eq!(renewed.token, a.token);

    // Release frees it at once; the next tenure has a larger token; a stale
    // release is a no-op.
    b.release(&renewed).await.unwrap();
    assert!(b.observe(name).await.unwrap().is_none());
    assert!(matches!(b.renew(&a).await, Err(LeaseError::Lost { .. })));
    let c = b.acquire(name, "c", ttl).await.unwrap();
    assert!(c.token > a.token);
    b.release(&a).await.unwrap();
    assert_eq!(
        b.observe(name).await.unwrap().map(|l| l.holder),
        Some("c".into())
    );

    // Without renewals the tenure ends, by the backend's clock.
    let deadline = tokio::time::Instant::now() + expiry_within;
    let d = loop {
        match b.acquire(name, "d", ttl).await {
            Ok(d) => break d,
            Err(LeaseError::Held { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the lease did not expire within {expiry_within:?}: {e}"),
        }
    };
    assert!(d.token > c.token);
    assert!(matches!(b.renew(&c).await, Err(LeaseError::Lost { .. })));
    b.release(&d).await.unwrap();
    assert!(b.observe(name).await.unwrap().is_none());
}

/// Cases per fuzz target: `RESILIENCE_FUZZ_CASES`, default 256 (a few
/// seconds per crate in the test command).
pub fn fuzz_cases() -> u32 {
    std::env::var("RESILIENCE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// `n` seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
