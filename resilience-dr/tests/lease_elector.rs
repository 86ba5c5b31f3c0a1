//! Behaviour of `LeaderElector` over the in-memory backend, on tokio's paused
//! clock (no wall-clock waits).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_core::clock::TokioClock;
use resilience_dr::lease::{
    DemoteReason, ElectionEvent, ElectorConfig, FencedResource, LeaderElector, Leadership, Lease,
    LeaseBackend, LeaseError, LeaseFuture, MemoryLeaseBackend,
};
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(9);

fn cfg(id: &str) -> ElectorConfig {
    ElectorConfig::new("scheduler", id).ttl(TTL)
}

fn backend() -> Arc<MemoryLeaseBackend> {
    Arc::new(MemoryLeaseBackend::with_clock(TokioClock))
}

/// Records every event with the (paused) time it happened at.
fn recorder(
    elector: &LeaderElector<impl LeaseBackend + 'static>,
) -> Arc<Mutex<Vec<(Instant, ElectionEvent)>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    elector
        .listeners()
        .add_fn(move |e: &ElectionEvent| sink.lock().unwrap().push((Instant::now(), e.clone())));
    log
}

fn kinds(log: &Mutex<Vec<(Instant, ElectionEvent)>>) -> Vec<&'static str> {
    log.lock().unwrap().iter().map(|(_, e)| e.kind()).collect()
}

/// What the wrapped backend does to `renew` calls.
const NORMAL: u8 = 0;
const FAIL: u8 = 1;
const HANG: u8 = 2;
const LOSE: u8 = 3;

#[derive(Debug)]
struct Faulty {
    inner: Arc<MemoryLeaseBackend>,
    renew_mode: AtomicU8,
    renews: AtomicUsize,
}

impl Faulty {
    fn new(inner: Arc<MemoryLeaseBackend>) -> Arc<Self> {
        Arc::new(Faulty {
            inner,
            renew_mode: AtomicU8::new(NORMAL),
            renews: AtomicUsize::new(0),
        })
    }
    fn set(&self, mode: u8) {
        self.renew_mode.store(mode, Ordering::SeqCst);
    }
}

impl LeaseBackend for Faulty {
    fn acquire<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> LeaseFuture<'a, Lease> {
        self.inner.acquire(name, holder, ttl)
    }
    fn renew<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, Lease> {
        self.renews.fetch_add(1, Ordering::SeqCst);
        match self.renew_mode.load(Ordering::SeqCst) {
            FAIL => Box::pin(async { Err(LeaseError::backend("faulty", "injected failure")) }),
            HANG => Box::pin(std::future::pending()),
            LOSE => Box::pin(async move {
                Err(LeaseError::Lost {
                    name: lease.name.clone(),
                    holder: lease.holder.clone(),
                    token: lease.token,
                })
            }),
            _ => self.inner.renew(lease),
        }
    }
    fn release<'a>(&'a self, lease: &'a Lease) -> LeaseFuture<'a, ()> {
        self.inner.release(lease)
    }
    fn observe<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, Option<Lease>> {
        self.inner.observe(name)
    }
}

#[tokio::test(start_paused = true)]
async fn single_candidate_leads_and_renews_every_third_of_ttl() {
    let b = backend();
    let elector = LeaderElector::new(b.clone(), cfg("a")).unwrap();
    let log = recorder(&elector);
    let h = elector.start().unwrap();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(31)).await;
    let events = log.lock().unwrap().clone();
    assert_eq!(events[0].1.kind(), "elected");
    let renew_times: Vec<Duration> = events
        .iter()
        .filter(|(_, e)| e.kind() == "renewed")
        .map(|(t, _)| *t - start)
        .collect();
    assert_eq!(
        renew_times,
        (1..=10)
            .map(|i| Duration::from_secs(3 * i))
            .collect::<Vec<_>>()
    );
    assert!(h.is_leader());
    assert_eq!(b.try_observe("scheduler").unwrap().unwrap().holder, "a");
    h.stop().await;
    assert!(
        b.try_observe("scheduler").unwrap().is_none(),
        "stop releases the lease"
    );
}

#[tokio::test(start_paused = true)]
async fn only_one_of_three_leads_and_a_crash_hands_over_within_ttl() {
    let b = backend();
    let handles: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| {
            LeaderElector::new(b.clone(), cfg(id))
                .unwrap()
                .start()
                .unwrap()
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let leaders: Vec<usize> = (0..3).filter(|&i| handles[i].is_leader()).collect();
    assert_eq!(leaders.len(), 1);
    let old = leaders[0];
    let old_token = handles[old].token().unwrap();
    let fenced = FencedResource::new(Vec::<&str>::new());
    fenced.write(old_token, |v| v.push("old")).unwrap();

    let mut handles: Vec<_> = handles.into_iter().map(Some).collect();
    let crashed_at = Instant::now();
    handles[old].take().unwrap().abort();
    let mut rest = handles.iter().flatten().map(|h| h.view());
    let (mut v0, mut v1) = (rest.next().unwrap(), rest.next().unwrap());
    // Whoever wins, within TTL (plus a campaign that notices the expiry at once).
    let winner = tokio::select! {
        t = v0.wait_for_leadership() => t,
        t = v1.wait_for_leadership() => t,
    }
    .unwrap();
    let took = Instant::now() - crashed_at;
    assert!(took <= TTL, "takeover took {took:?}");
    assert!(winner > old_token);
    fenced.write(winner, |v| v.push("new")).unwrap();
    assert!(fenced.write(old_token, |v| v.push("stale")).is_err());
    assert_eq!(fenced.into_inner(), vec!["old", "new"]);
    let now_leading = handles.iter().flatten().filter(|h| h.is_leader()).count();
    assert_eq!(now_leading, 1);
}

#[tokio::test(start_paused = true)]
async fn abort_stops_offering_the_token_but_keeps_the_lease() {
    let b = backend();
    let a = LeaderElector::new(b.clone(), cfg("a"))
        .unwrap()
        .start()
        .unwrap();
    let view = a.view();
    let token = a.view().wait_for_leadership().await.unwrap();
    a.abort();
    assert_eq!(view.leadership(), Leadership::Stopped);
    assert_eq!(view.token(), None);
    // Like a crash: the backend still holds the tenure until it expires.
    let held = b.try_observe("scheduler").unwrap().unwrap();
    assert_eq!(held.token, token);
    tokio::time::sleep(TTL).await;
    assert!(b.try_observe("scheduler").unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn graceful_stop_hands_over_immediately() {
    let b = backend();
    let a = LeaderElector::new(b.clone(), cfg("a"))
        .unwrap()
        .start()
        .unwrap();
    let mut va = a.view();
    va.wait_for_leadership().await;
    let bb = LeaderElector::new(b.clone(), cfg("b"))
        .unwrap()
        .start()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!bb.is_leader());
    let stopped = Instant::now();
    a.stop().await;
    assert_eq!(va.leadership(), Leadership::Stopped);
    bb.view().wait_for_leadership().await;
    // b campaigns every renew_interval at the latest.
    assert!(Instant::now() - stopped <= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_gracefully() {
    let b = backend();
    let a = LeaderElector::new(b.clone(), cfg("a"))
        .unwrap()
        .start()
        .unwrap();
    a.view().wait_for_leadership().await;
    drop(a);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(b.try_observe("scheduler").unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn failing_renewals_demote_before_the_lease_expires() {
    let mem = backend();
    let faulty = Faulty::new(mem.clone());
    let demoted_at = Arc::new(Mutex::new(None));
    let d = demoted_at.clone();
    let elector = LeaderElector::with_shared_backend(faulty.clone(), cfg("a"))
        .unwrap()
        .on_demoted(move |lease, reason| {
            let d = d.clone();
            async move {
                *d.lock().unwrap() = Some((Instant::now(), lease.token, reason));
            }
        });
    let log = recorder(&elector);
    let h = elector.start().unwrap();
    let mut view = h.view();
    view.wait_for_leadership().await;
    let lease = mem.try_observe("scheduler").unwrap().unwrap();
    faulty.set(FAIL);
    // Walk time forward in small steps and check the view never offers the
    // token once the backend lease could have expired.
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if demoted_at.lock().unwrap().is_some() {
            break;
        }
        assert!(Instant::now().into_std() < lease.expires_at);
    }
    let (at, token, reason) = demoted_at.lock().unwrap().unwrap();
    assert_eq!(reason, DemoteReason::RenewTimedOut);
    assert_eq!(token, lease.token);
    assert!(
        at.into_std() < lease.expires_at,
        "demoted after the lease expired"
    );
    assert!(view.token().is_none());
    let k = kinds(&log);
    assert!(
        k.iter().filter(|k| **k == "renew_failed").count() >= 2,
        "{k:?}"
    );
    assert_eq!(k.iter().filter(|k| **k == "demoted").count(), 1);
    // Retries happened inside one round: several renew calls.
    assert!(faulty.renews.load(Ordering::SeqCst) >= 3);
    // Once the backend works again the candidate gets a new tenure.
    faulty.set(NORMAL);
    let again = view.wait_for_leadership().await.unwrap();
    assert!(again > token);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_hanging_backend_is_cut_off_by_the_round_deadline() {
    let mem = backend();
    let faulty = Faulty::new(mem.clone());
    let elector = LeaderElector::with_shared_backend(faulty.clone(), cfg("a")).unwrap();
    let log = recorder(&elector);
    let h = elector.start().unwrap();
    h.view().wait_for_leadership().await;
    let lease = mem.try_observe("scheduler").unwrap().unwrap();
    faulty.set(HANG);
    tokio::time::sleep(TTL).await;
    let events = log.lock().unwrap().clone();
    let (at, demoted) = events.iter().find(|(_, e)| e.kind() == "demoted").unwrap();
    assert!(matches!(
        demoted,
        ElectionEvent::Demoted {
            reason: DemoteReason::RenewTimedOut,
            ..
        }
    ));
    assert!(at.into_std() < lease.expires_at);
    assert!(!h.is_leader());
    faulty.set(NORMAL);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn lost_lease_emits_lost_then_demoted_and_campaigns_again() {
    let mem = backend();
    let faulty = Faulty::new(mem.clone());
    let elector = LeaderElector::with_shared_backend(faulty.clone(), cfg("a")).unwrap();
    let log = recorder(&elector);
    let h = elector.start().unwrap();
    let mut view = h.view();
    let first = view.wait_for_leadership().await.unwrap();
    faulty.set(LOSE);
    tokio::time::sleep(Duration::from_secs(4)).await;
    faulty.set(NORMAL);
    assert_eq!(kinds(&log)[..3], ["elected", "lost", "demoted"]);
    // The old tenure is still registered in the backend until it expires
    // (acquire refuses even the same holder), then a new tenure starts.
    let second = view.wait_for_leadership().await.unwrap();
    assert!(second > first);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn promote_hook_runs_and_is_aborted_on_demotion() {
    let mem = backend();
    let faulty = Faulty::new(mem.clone());
    let finished = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let (f, s) = (finished.clone(), started.clone());
    let h = LeaderElector::with_shared_backend(faulty.clone(), cfg("a"))
        .unwrap()
        .on_elected(move |_lease| {
            let (f, s) = (f.clone(), s.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                // A slow promotion: longer than the tenure will last.
                tokio::time::sleep(Duration::from_secs(60)).await;
                f.fetch_add(1, Ordering::SeqCst);
            }
        })
        .start()
        .unwrap();
    h.view().wait_for_leadership().await;
    tokio::task::yield_now().await;
    assert_eq!(started.load(Ordering::SeqCst), 1);
    // Renewals go on while the hook runs.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(h.is_leader());
    faulty.set(LOSE);
    tokio::time::sleep(Duration::from_secs(80)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "promote hook not aborted"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn demote_hook_is_cancelled_at_lease_expiry() {
    let mem = backend();
    let faulty = Faulty::new(mem.clone());
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let h = LeaderElector::with_shared_backend(faulty.clone(), cfg("a"))
        .unwrap()
        .on_demoted(move |_, _| {
            let d = d.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(600)).await;
                d.fetch_add(1, Ordering::SeqCst);
            }
        })
        .start()
        .unwrap();
    h.view().wait_for_leadership().await;
    let t0 = Instant::now();
    h.stop().await;
    assert!(
        Instant::now() - t0 <= TTL,
        "stop waited for a hung demote hook"
    );
    assert_eq!(done.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn elector_metrics_are_recorded() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snap = recorder.snapshotter();
    let b = backend();
    let h = metrics::with_local_recorder(&recorder, || {
        LeaderElector::new(b.clone(), cfg("a"))
            .unwrap()
            .start()
            .unwrap()
    });
    h.view().wait_for_leadership().await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    h.stop().await;
    let all = snap.snapshot().into_vec();
    let get = |name: &str, label: Option<(&str, &str)>| {
        all.iter()
            .find(|(k, ..)| {
                k.key().name() == name
                    && label.is_none_or(|(lk, lv)| {
                        k.key().labels().any(|l| l.key() == lk && l.value() == lv)
                    })
            })
            .map(|(_, _, _, v)| v)
    };
    let counter = |name: &str, label: Option<(&str, &str)>| match get(name, label) {
        Some(DebugValue::Counter(c)) => Some(*c),
        _ => None,
    };
    assert_eq!(counter("resilience_lease_elections_total", None), Some(1));
    assert_eq!(
        counter("resilience_lease_renewals_total", Some(("outcome", "ok"))),
        Some(2)
    );
    assert_eq!(
        counter(
            "resilience_lease_demotions_total",
            Some(("reason", "stopped"))
        ),
        Some(1)
    );
    assert_eq!(
        counter("resilience_lease_campaigns_total", Some(("outcome", "won"))),
        Some(1)
    );
    assert!(matches!(
        get("resilience_lease_leader", None),
        Some(DebugValue::Gauge(g)) if g.into_inner() == 0.0
    ));
    assert!(matches!(
        get("resilience_lease_token", None),
        Some(DebugValue::Gauge(g)) if g.into_inner() == 1.0
    ));
    assert!(matches!(
        get("resilience_lease_renew_seconds", None),
        Some(DebugValue::Histogram(v)) if v.len() == 2
    ));
}

#[test]
fn config_errors_name_the_field() {
    let e = LeaderElector::new(MemoryLeaseBackend::new(), ElectorConfig::new("", "a")).unwrap_err();
    assert_eq!(e.field(), Some("lease_name"));
    let e = LeaderElector::new(
        MemoryLeaseBackend::new(),
        ElectorConfig::new("l", "a").ttl(Duration::ZERO),
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("ttl"));
    let e = ElectorConfig::new("l", "a")
        .renew_interval(Duration::from_secs(20))
        .validate()
        .unwrap_err();
    assert_eq!(e.field(), Some("retry_timeout"));
    assert!(e.to_string().contains("must be shorter than ttl"), "{e}");
    // Patroni's own defaults (loop_wait 10 s, retry_timeout 10 s, ttl 30 s)
    // sit exactly on the limit, which this rule rejects: strictly shorter.
    let e = ElectorConfig::new("l", "a")
        .renew_interval(Duration::from_secs(10))
        .retry_timeout(Duration::from_secs(10))
        .validate();
    assert!(e.is_err());
    assert!(ElectorConfig::new("l", "a")
        .ttl(Duration::MAX)
        .validate()
        .is_err());
    assert!(ElectorConfig::new("l", "a")
        .retry_timeout(Duration::MAX)
        .validate()
        .is_err());
}

#[test]
fn config_is_data() {
    let cfg: ElectorConfig = resilience_core::config::from_json_str(
        r#"{"lease_name":"db","candidate_id":"n1","ttl":"6s","renew_interval":"1s","retry_timeout":"2s"}"#,
    )
    .unwrap();
    cfg.validate().unwrap();
    let back: ElectorConfig =
        resilience_core::config::from_json_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
    let typo = resilience_core::config::from_yaml_str::<ElectorConfig>(
        "lease_name: db\ncandidate_id: n1\nttll: 5s\n",
    );
    assert!(typo.is_err());
    let defaults: ElectorConfig =
        resilience_core::config::from_yaml_str("lease_name: db\ncandidate_id: n1\n").unwrap();
    assert_eq!(defaults.ttl, Duration::from_secs(30));
    assert_eq!(defaults.effective_renew_interval(), Duration::from_secs(10));
}

/// The workflow runtime's active-passive scheduler fails over in under 30 s, even when
/// the leader dies right after a renewal (the worst case: a full TTL left).
#[tokio::test(start_paused = true)]
async fn scheduler_preset_fails_over_in_under_30s() {
    let b = backend();
    let a = LeaderElector::new(
        b.clone(),
        ElectorConfig::active_passive_scheduler("scheduler", "sched-a"),
    )
    .unwrap();
    let log = recorder(&a);
    let a = a.start().unwrap();
    a.view().wait_for_leadership().await;
    let standby = LeaderElector::new(
        b.clone(),
        ElectorConfig::active_passive_scheduler("scheduler", "sched-b"),
    )
    .unwrap()
    .start()
    .unwrap();
    // Crash just after a renewal.
    while kinds(&log).last() != Some(&"renewed") {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let crashed = Instant::now();
    a.abort();
    standby.view().wait_for_leadership().await;
    let took = Instant::now() - crashed;
    assert!(took < Duration::from_secs(30), "failover took {took:?}");
    assert!(
        took >= Duration::from_secs(19),
        "the lease was honoured: {took:?}"
    );
}
