//! Active–passive leader election on etcd, with fencing.
//!
//! A scheduler must run exactly once: every replica campaigns for the
//! `scheduler` lease, only the leader schedules, and every write it makes to
//! shared state carries its fencing token, so a deposed leader that has not
//! noticed yet (paused, partitioned) cannot corrupt anything.
//!
//! Start the test servers first (loopback only):
//!
//! ```text
//! scripts/services.sh start && . .test-services/env
//! ```
//!
//! Then either watch a failover in one process (two replicas; the leader
//! crashes; the standby takes over within the TTL; the old leader's late
//! write is refused):
//!
//! ```text
//! cargo run --example leader_election_etcd --features dr-etcd
//! ```
//!
//! or run real replicas in separate terminals and kill the leader with Ctrl-C
//! (a clean stop releases the lease at once) or `kill -9` (the lease expires):
//!
//! ```text
//! cargo run --example leader_election_etcd --features dr-etcd -- --id sched-a
//! cargo run --example leader_election_etcd --features dr-etcd -- --id sched-b
//! ```
//!
//! Endpoints come from `RESILIENCE_ETCD_ENDPOINTS` (comma-separated), as
//! written by `scripts/services.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use resilience::dr::lease::{
    ElectionEvent, ElectorConfig, EtcdLeaseBackend, EtcdLeaseConfig, FencedResource, LeaderElector,
};

const LEASE: &str = "example-scheduler";

fn config(id: &str) -> ElectorConfig {
    // TTL 3 s: renew every second, retry a failing renewal for 0.75 s.
    ElectorConfig::new(LEASE, id).ttl(Duration::from_secs(3))
}

async fn backend(endpoints: &[String]) -> Result<EtcdLeaseBackend, Box<dyn std::error::Error>> {
    let mut cfg = EtcdLeaseConfig::new(endpoints.iter().cloned());
    cfg.request_timeout = Duration::from_millis(500);
    Ok(EtcdLeaseBackend::connect(cfg).await?)
}

fn log_events(elector: &LeaderElector<EtcdLeaseBackend>, started: Instant) {
    elector.listeners().add_fn(move |e: &ElectionEvent| {
        let at = started.elapsed().as_secs_f64();
        match e {
            ElectionEvent::Elected {
                candidate, token, ..
            } => {
                println!("[{at:5.2}s] {candidate}: elected, token {token}");
            }
            ElectionEvent::Demoted {
                candidate,
                token,
                reason,
                ..
            } => {
                println!("[{at:5.2}s] {candidate}: demoted ({reason}), token {token} retired");
            }
            ElectionEvent::Lost { candidate, .. } => {
                println!("[{at:5.2}s] {candidate}: lease lost");
            }
            ElectionEvent::RenewFailed {
                candidate, error, ..
            } => {
                println!("[{at:5.2}s] {candidate}: renewal failed: {error}");
            }
            _ => {}
        }
    });
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(endpoints) = std::env::var("RESILIENCE_ETCD_ENDPOINTS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .collect::<Vec<_>>()
        })
    else {
        println!(
            "RESILIENCE_ETCD_ENDPOINTS is not set: no etcd to talk to.\n\
             Start the loopback test servers and load their addresses, then run again:\n\n    \
             scripts/services.sh start && . .test-services/env\n    \
             cargo run --example leader_election_etcd --features dr-etcd\n\n\
             (scripts/services.sh stop shuts them down.)"
        );
        return Ok(());
    };
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--id") {
        Some(i) => {
            let id = args.get(i + 1).ok_or("--id needs a value")?;
            replica(&endpoints, id).await
        }
        None => failover_demo(&endpoints).await,
    }
}

/// One long-running replica: schedules while it leads, until Ctrl-C.
async fn replica(endpoints: &[String], id: &str) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let elector = LeaderElector::new(backend(endpoints).await?, config(id))?
        .on_elected(|lease| async move {
            println!("promote: taking over scheduling with token {}", lease.token);
        })
        .on_demoted(|lease, reason| async move {
            println!(
                "demote ({reason}): stop scheduling, token {} is retired",
                lease.token
            );
        });
    log_events(&elector, started);
    let handle = elector.start()?;
    let view = handle.view();
    println!("{id}: campaigning for `{LEASE}` on {endpoints:?}; Ctrl-C to stop");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                match view.token() {
                    Some(token) => println!("{id}: scheduling a batch (token {token})"),
                    None => println!("{id}: standby ({:?})", view.leadership()),
                }
            }
        }
    }
    println!("{id}: stopping; releasing the lease for a fast handover");
    handle.stop().await;
    Ok(())
}

/// Two replicas in one process; the leader crashes; the standby takes over.
async fn failover_demo(endpoints: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    // The shared state both replicas write to: a job queue cursor.
    let cursor = Arc::new(FencedResource::named("job-cursor", 0u64));

    let a = LeaderElector::new(backend(endpoints).await?, config("sched-a"))?;
    log_events(&a, started);
    let a = a.start()?;
    let mut view_a = a.view();
    let token_a = view_a
        .wait_for_leadership()
        .await
        .ok_or("sched-a stopped")?;
    let b = LeaderElector::new(backend(endpoints).await?, config("sched-b"))?;
    log_events(&b, started);
    let b = b.start()?;

    for _ in 0..3 {
        if let Some(token) = view_a.token() {
            let at = cursor.write(token, |c| {
                *c += 10;
                *c
            })?;
            println!("sched-a scheduled jobs up to {at}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    println!("--- sched-a crashes (no release: its lease must expire) ---");
    let crashed = Instant::now();
    a.abort();
    let token_b = b
        .view()
        .wait_for_leadership()
        .await
        .ok_or("sched-b stopped")?;
    println!(
        "sched-b took over after {:.2}s with token {token_b} (> {token_a})",
        crashed.elapsed().as_secs_f64()
    );
    let at = cursor.write(token_b, |c| {
        *c += 10;
        *c
    })?;
    println!("sched-b scheduled jobs up to {at}");

    // sched-a was only paused, and now resumes with its old token.
    match cursor.write(token_a, |c| {
        *c = 0;
        *c
    }) {
        Ok(_) => println!("BUG: a stale write was accepted"),
        Err(e) => println!("sched-a's late write refused: {e}"),
    }
    println!("cursor is {}", cursor.read(|c| *c));
    b.stop().await;
    Ok(())
}
