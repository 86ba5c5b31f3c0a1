//! What the PostgreSQL and Redis store tests share: the server environment,
//! the store contract run against each backend, the crash test (replayer
//! child processes killed with SIGKILL mid-batch) and the server-restart
//! test.
#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use resilience_core::dead_letter::{
    ClaimOptions, DeadLetterError, DeadLetterReason, DeadLetterStore, LetterState, NewLetter,
    Purge, Release, StoreError,
};
use resilience_store::dead_letter::QueueConfig;
use serde::{Deserialize, Serialize};

/// The request the tests dead-letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub n: u32,
    pub body: String,
}

pub fn job(n: u32) -> Job {
    Job {
        n,
        body: format!("payload of job {n}"),
    }
}

pub type Store = Arc<dyn DeadLetterStore<Job>>;
/// Connects a store for a queue; the `u32` is the codec version.
pub type Connect = fn(QueueConfig, u32) -> Pin<Box<dyn Future<Output = Store> + Send>>;

/// The value of `var`, or `None` after printing why the test is skipped.
/// Panics instead when `RESILIENCE_REQUIRE_SERVERS=1` (CI).
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

/// A queue name no earlier run or parallel test uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

fn claim_opts(n: usize, lease_ms: u64) -> ClaimOptions {
    ClaimOptions::new(n, Duration::from_millis(lease_ms))
}

async fn enqueue(store: &Store, n: u32) {
    store
        .enqueue(
            NewLetter::new(job(n), DeadLetterReason::CircuitOpen)
                .with_idempotency_key(format!("L{n}")),
        )
        .await
        .unwrap();
}

/// Claims, acks, retries with backoff, untried releases, stats.
pub async fn contract_basics(connect: Connect) {
    let store = connect(QueueConfig::new(unique("basics")), 1).await;
    for n in 0..3 {
        enqueue(&store, n).await;
    }
    let batch = store.claim(claim_opts(10, 30_000)).await.unwrap();
    assert_eq!(
        batch.iter().map(|l| l.item.n).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(batch[0].idempotency_key, "L0");
    assert_eq!(batch[0].reason, DeadLetterReason::CircuitOpen);
    assert_eq!(batch[0].replays, 1);
    assert!(store
        .claim(claim_opts(10, 30_000))
        .await
        .unwrap()
        .is_empty());
    store.ack(batch[0].receipt()).await.unwrap();
    let retry = Release::Retry {
        after: Duration::from_millis(300),
        error: "HTTP 503".into(),
    };
    store.release(batch[1].receipt(), retry).await.unwrap();
    store
        .release(batch[2].receipt(), Release::Untried)
        .await
        .unwrap();
    // A receipt is good once.
    assert!(matches!(
        store.ack(batch[0].receipt()).await,
        Err(StoreError::LeaseLost { .. })
    ));
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.ready, stats.waiting, stats.in_flight, stats.parked),
        (1, 1, 0, 0),
        "{stats:?}"
    );
    assert!(stats.oldest_age.is_some());

    let untried = store.claim(claim_opts(10, 30_000)).await.unwrap();
    assert_eq!(untried.iter().map(|l| l.item.n).collect::<Vec<_>>(), [2]);
    assert_eq!(untried[0].replays, 1, "an untried delivery does not count");
    store.ack(untried[0].receipt()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let retried = store.claim(claim_opts(10, 30_000)).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].item, job(1));
    assert_eq!(retried[0].replays, 2);
    assert!(retried[0].is_redelivery());
    assert_eq!(retried[0].last_error.as_deref(), Some("HTTP 503"));
    store.ack(retried[0].receipt()).await.unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.depth() + stats.parked, 0, "{stats:?}");
    assert_eq!(stats.oldest_age, None);
}

/// A replayer that stops answering loses its letters after the lease;
/// another replayer gets them, and the first one's receipt is refused.
pub async fn contract_lease_expiry(connect: Connect) {
    let queue = QueueConfig::new(unique("lease"));
    let a = connect(queue.clone(), 1).await;
    let b = connect(queue, 1).await;
    enqueue(&a, 7).await;
    let held = a.claim(claim_opts(5, 300)).await.unwrap();
    assert_eq!(held.len(), 1);
    assert!(
        b.claim(claim_opts(5, 300)).await.unwrap().is_empty(),
        "leased to a"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    // The same lease for both (on Redis the claimer's lease decides).
    let again = b.claim(claim_opts(5, 300)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].item, job(7));
    assert_eq!(again[0].idempotency_key, "L7");
    assert_eq!(again[0].replays, 2);
    assert!(matches!(
        a.ack(held[0].receipt()).await,
        Err(StoreError::LeaseLost { .. })
    ));
    b.ack(again[0].receipt()).await.unwrap();
    assert_eq!(b.stats().await.unwrap().depth(), 0);
}

/// A letter that keeps losing its lease is parked after `max_replays`;
/// failed replays can park too; purge removes them.
pub async fn contract_poison(connect: Connect) {
    let store = connect(QueueConfig::new(unique("poison")), 1).await;
    enqueue(&store, 1).await;
    enqueue(&store, 2).await;
    let opts = claim_opts(1, 200).with_max_replays(2);
    for _ in 0..2 {
        let c = store.claim(opts).await.unwrap();
        assert_eq!(c[0].item.n, 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let next = store.claim(opts).await.unwrap();
    assert_eq!(
        next.iter().map(|l| l.item.n).collect::<Vec<_>>(),
        [2],
        "1 is parked, 2 is next"
    );
    store
        .release(
            next[0].receipt(),
            Release::Park {
                error: "HTTP 400: bad input".into(),
            },
        )
        .await
        .unwrap();
    let parked = store.parked(10).await.unwrap();
    assert_eq!(parked.len(), 2);
    assert!(parked.iter().all(|l| l.state == LetterState::Parked));
    let errors: Vec<_> = parked
        .iter()
        .map(|l| l.last_error.clone().unwrap_or_default())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("lease expired")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("HTTP 400")), "{errors:?}");
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.depth(), stats.parked), (0, 2));
    assert!(store.claim(claim_opts(10, 1000)).await.unwrap().is_empty());
    assert_eq!(store.purge(Purge::Parked).await.unwrap(), 2);
    assert_eq!(store.stats().await.unwrap().parked, 0);
}

/// Limits refuse with the letter in hand; an undecodable letter is parked.
pub async fn contract_limits_and_codec(connect: Connect) {
    let small = connect(
        QueueConfig::new(unique("limits"))
            .with_capacity(2)
            .with_max_payload_bytes(100),
        1,
    )
    .await;
    let big = Job {
        n: 1,
        body: "x".repeat(200),
    };
    match small
        .enqueue(NewLetter::new(big.clone(), DeadLetterReason::CircuitOpen))
        .await
    {
        Err(DeadLetterError::TooLarge {
            item,
            limit: 100,
            size,
            ..
        }) => {
            assert_eq!(item, big);
            assert!(size > 200);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    enqueue(&small, 1).await;
    enqueue(&small, 2).await;
    let full = small
        .enqueue(NewLetter::new(job(3), DeadLetterReason::CircuitOpen))
        .await
        .unwrap_err();
    assert!(matches!(full, DeadLetterError::Full { .. }), "{full:?}");
    assert_eq!(full.into_item(), job(3));
    assert_eq!(small.purge(Purge::All).await.unwrap(), 2);
    enqueue(&small, 4).await;

    // A letter written by version 1 of the host, read by version 2 without
    // an upgrade: parked with the decode error, not lost, not delivered.
    let queue = QueueConfig::new(unique("codec"));
    let v1 = connect(queue.clone(), 1).await;
    let v2 = connect(queue, 2).await;
    enqueue(&v1, 5).await;
    assert!(v2.claim(claim_opts(10, 1000)).await.unwrap().is_empty());
    let stats = v2.stats().await.unwrap();
    assert_eq!((stats.depth(), stats.parked), (0, 1), "{stats:?}");
    let parked = v1.parked(10).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert!(parked[0]
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("version 1"));
}

// ------------------------------------------------------------------ crash test

/// Environment of a crash-test child.
pub const CHILD_QUEUE: &str = "RESILIENCE_CRASH_QUEUE";
pub const CHILD_LOG: &str = "RESILIENCE_CRASH_LOG";
pub const CHILD_STOP: &str = "RESILIENCE_CRASH_STOP";

pub const CRASH_LETTERS: u32 = 10_000;
const KILLS: usize = 5;
const CHILD_BATCH: usize = 50;
const CHILD_LEASE: Duration = Duration::from_secs(2);

/// The replayer child: claims batches, "does the work" (appends
/// `n key replays` to the log, one write per delivery), acks; exits when
/// the stop file exists and nothing is left. Killed with SIGKILL at random
/// points by [`crash_test`].
pub async fn crash_child(connect: Connect) {
    let (Ok(queue), Ok(log), Ok(stop)) = (
        std::env::var(CHILD_QUEUE),
        std::env::var(CHILD_LOG),
        std::env::var(CHILD_STOP),
    ) else {
        eprintln!("not a crash-test child (run by the crash test)");
        return;
    };
    let store = connect(QueueConfig::new(queue), 1).await;
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .unwrap();
    let opts = ClaimOptions::new(CHILD_BATCH, CHILD_LEASE).with_max_replays(1000);
    loop {
        let batch = match store.claim(opts).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("claim: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if batch.is_empty() {
            if Path::new(&stop).exists() && store.stats().await.is_ok_and(|s| s.depth() == 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        for letter in batch {
            // The work: recorded in one write (a SIGKILL never tears it).
            let line = format!(
                "{} {} {}\n",
                letter.item.n, letter.idempotency_key, letter.replays
            );
            log.write_all(line.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_micros(200));
            if let Err(e) = store.ack(letter.receipt()).await {
                eprintln!("ack: {e}");
            }
        }
    }
}

fn spawn_child(child_test: &str, queue: &str, log: &Path, stop: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            child_test,
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_QUEUE, queue)
        .env(CHILD_LOG, log)
        .env(CHILD_STOP, stop)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the replayer child")
}

/// What the host saw in the crash test.
#[derive(Debug)]
pub struct CrashReport {
    pub letters: u32,
    pub kills: usize,
    pub deliveries: usize,
    /// Deliveries flagged as redeliveries (`replays > 1`): letters a killed
    /// child held when it died.
    pub redelivered: usize,
    pub duplicates: usize,
    pub lost: usize,
    pub elapsed: Duration,
}

/// A producer enqueues 10 000 letters while replayer child processes are
/// killed with SIGKILL at random points (seeded); a last child drains the
/// queue. Every letter must be delivered (none lost) and acknowledged
/// (nothing left), and every duplicate delivery must be flagged as a
/// redelivery (`replays > 1`) under the letter's own idempotency key.
pub async fn crash_test(connect: Connect, child_test: &str, seed: u64) -> CrashReport {
    let started = Instant::now();
    let queue = unique("crash");
    let dir = std::env::temp_dir().join(unique("resilience-crash"));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("deliveries.log");
    let stop = dir.join("stop");
    let store = connect(QueueConfig::new(queue.clone()), 1).await;

    let producer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..CRASH_LETTERS {
                let letter = NewLetter::new(job(n), DeadLetterReason::CircuitOpen)
                    .with_idempotency_key(format!("L{n}"));
                store.enqueue(letter).await.unwrap();
            }
        })
    };

    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..KILLS {
        let mut child = spawn_child(child_test, &queue, &log, &stop);
        // Let it connect and get into its batches, then kill it mid-batch.
        let after = Duration::from_millis(rng.random_range(300..900));
        tokio::time::sleep(after).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    producer.await.unwrap();
    std::fs::File::create(&stop).unwrap();
    let mut last = spawn_child(child_test, &queue, &log, &stop);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = last.try_wait().unwrap() {
            assert!(status.success(), "the last replayer failed: {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the last replayer did not drain the queue in 90 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.depth(), stats.parked),
        (0, 0),
        "every letter acknowledged: {stats:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let mut seen: BTreeMap<u32, Vec<(String, u32)>> = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let (Some(n), Some(key), Some(replays)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("torn log line {line:?}");
        };
        seen.entry(n.parse().unwrap())
            .or_default()
            .push((key.to_string(), replays.parse().unwrap()));
    }
    let lost = (0..CRASH_LETTERS).filter(|n| !seen.contains_key(n)).count();
    assert_eq!(lost, 0, "letters never delivered");
    let mut duplicates = 0;
    for (n, deliveries) in &seen {
        assert!(*n < CRASH_LETTERS);
        for (key, _) in deliveries {
            assert_eq!(
                key,
                &format!("L{n}"),
                "the idempotency key travels with its letter"
            );
        }
        if deliveries.len() > 1 {
            duplicates += deliveries.len() - 1;
            let mut replays: Vec<u32> = deliveries.iter().map(|d| d.1).collect();
            replays.sort_unstable();
            assert!(
                replays.windows(2).all(|w| w[0] < w[1]) && replays[0] >= 1,
                "letter {n}: each repeated delivery is flagged by a higher replay count: {replays:?}"
            );
        }
    }
    // At least once, and no more than the killed batches allow: a kill can
    // repeat at most the batch the child held.
    assert!(
        duplicates <= KILLS * CHILD_BATCH,
        "{duplicates} duplicate deliveries for {KILLS} kills of batches of {CHILD_BATCH}"
    );
    // The kills did land mid-batch: letters the dead children held were
    // delivered again, flagged.
    let redelivered = seen
        .values()
        .flatten()
        .filter(|(_, replays)| *replays > 1)
        .count();
    assert!(redelivered > 0, "no kill landed while a child held a batch");
    std::fs::remove_dir_all(&dir).ok();
    CrashReport {
        letters: CRASH_LETTERS,
        kills: KILLS,
        deliveries: seen.values().map(Vec::len).sum(),
        redelivered,
        duplicates,
        lost,
        elapsed: started.elapsed(),
    }
}

// ------------------------------------------------------------------ restart test

/// Restarts one test server through `scripts/services.sh restart NAME`.
pub fn restart_server(name: &str) -> bool {
    let Some(script) = server_env("RESILIENCE_SERVICES_SCRIPT") else {
        return false;
    };
    let status = Command::new("bash")
        .arg(PathBuf::from(script))
        .args(["restart", name])
        .status()
        .expect("run services.sh");
    assert!(status.success(), "services.sh restart {name} failed");
    true
}

/// Letters enqueued before a server restart are all replayed after it,
/// through the same store value (it reconnects) and a fresh one.
pub async fn restart_test(connect: Connect, server: &str) {
    const N: u32 = 500;
    let queue = QueueConfig::new(unique("restart"));
    let store = connect(queue.clone(), 1).await;
    for n in 0..N {
        enqueue(&store, n).await;
    }
    // A few in flight at the restart: their lease survives it too.
    let held = store.claim(claim_opts(20, 1000)).await.unwrap();
    assert_eq!(held.len(), 20);
    if !restart_server(server) {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    // The old connection is gone: the first calls may fail, then it reconnects.
    let mut done = BTreeMap::new();
    let fresh = connect(queue, 1).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // the held letters' lease ends
    loop {
        assert!(
            Instant::now() < deadline,
            "letters not replayed 30 s after the restart: {} of {N}",
            done.len()
        );
        let batch = match store.claim(claim_opts(100, 1000)).await {
            Ok(b) => b,
            Err(StoreError::Unavailable { .. }) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => panic!("claim after restart: {e}"),
        };
        if batch.is_empty() {
            break;
        }
        for letter in batch {
            assert_eq!(letter.item, job(letter.item.n), "payload intact");
            *done.entry(letter.item.n).or_insert(0) += 1;
            store.ack(letter.receipt()).await.unwrap();
        }
    }
    assert_eq!(
        done.len(),
        N as usize,
        "every letter enqueued before the restart was replayed"
    );
    let stats = fresh.stats().await.unwrap();
    assert_eq!((stats.depth(), stats.parked), (0, 0), "{stats:?}");
}

// ------------------------------------------------------------------ metrics

/// The store's metrics, read back from a debugging recorder: counts per
/// queue (enqueued, replayed, retried, parked) and the gauges `stats`
/// refreshes (depth, waiting, parked, oldest age).
pub fn metrics_contract(connect: Connect) {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::MetricKind;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let queue = unique("metrics");
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = connect(QueueConfig::new(queue.clone()), 1).await;
            for n in 0..3 {
                enqueue(&store, n).await;
            }
            let batch = store.claim(claim_opts(3, 30_000)).await.unwrap();
            store.ack(batch[0].receipt()).await.unwrap();
            let retry = Release::Retry {
                after: Duration::from_secs(60),
                error: "503".into(),
            };
            store.release(batch[1].receipt(), retry).await.unwrap();
            store
                .release(
                    batch[2].receipt(),
                    Release::Park {
                        error: "400".into(),
                    },
                )
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            store.stats().await.unwrap();
        });
    });
    let snapshot: Vec<_> = snapshotter.snapshot().into_vec();
    let value = |kind: MetricKind, name: &str| {
        snapshot
            .iter()
            .find(|(k, _, _, _)| {
                k.kind() == kind
                    && k.key().name() == name
                    && k.key()
                        .labels()
                        .any(|l| l.key() == "queue" && l.value() == queue)
            })
            .map(|(_, _, _, v)| v)
            .unwrap_or_else(|| panic!("metric {name} for queue {queue} not recorded"))
    };
    let counter = |name: &str| match value(MetricKind::Counter, name) {
        DebugValue::Counter(n) => *n,
        other => panic!("{name}: {other:?}"),
    };
    let gauge = |name: &str| match value(MetricKind::Gauge, name) {
        DebugValue::Gauge(g) => g.into_inner(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(counter("resilience_dead_letter_enqueued_total"), 3);
    assert_eq!(counter("resilience_dead_letter_replayed_total"), 1);
    assert_eq!(counter("resilience_dead_letter_replay_failures_total"), 1);
    assert_eq!(counter("resilience_dead_letter_parked_total"), 1);
    assert_eq!(gauge("resilience_dead_letter_depth"), 1.0);
    assert_eq!(gauge("resilience_dead_letter_waiting"), 1.0);
    assert_eq!(gauge("resilience_dead_letter_in_flight"), 0.0);
    assert_eq!(gauge("resilience_dead_letter_parked"), 1.0);
    let age = gauge("resilience_dead_letter_oldest_age_seconds");
    assert!(age > 0.0 && age < 60.0, "oldest age {age}");
}
