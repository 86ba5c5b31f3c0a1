//! The etcd lease backend and leader election on a real 3-member etcd
//! cluster (`scripts/services.sh start`). Skips with a printed reason when
//! `RESILIENCE_ETCD_ENDPOINTS` is unset, unless `RESILIENCE_REQUIRE_SERVERS=1`.
//!
//! These tests use real time: etcd's TTLs run on its own clock. TTLs are 2 s.

mod common;

#[cfg(not(feature = "etcd"))]
#[test]
fn etcd_tests_need_the_etcd_feature() {
    let why = "the etcd lease tests need `--features etcd` (scripts/test.sh uses --all-features)";
    assert!(!common::require_servers(), "{why}");
    eprintln!("SKIPPED: {why}");
}

#[cfg(feature = "etcd")]
mod etcd {
    use std::time::{Duration, Instant};

    use super::common::*;
    use resilience_dr::lease::{EtcdLeaseBackend, EtcdLeaseConfig};

    fn endpoints() -> Option<Vec<String>> {
        server_env("RESILIENCE_ETCD_ENDPOINTS")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
    }

    fn config(endpoints: &[String]) -> EtcdLeaseConfig {
        let mut cfg = EtcdLeaseConfig::new(endpoints.iter().cloned());
        cfg.key_prefix = "/resilience-test/leases/".into();
        cfg.request_timeout = Duration::from_millis(500);
        cfg.connect_timeout = Duration::from_millis(500);
        cfg
    }

    async fn backend(endpoints: &[String]) -> EtcdLeaseBackend {
        EtcdLeaseBackend::connect(config(endpoints))
            .await
            .expect("etcd client")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backend_contract_on_etcd() {
        let Some(eps) = endpoints() else { return };
        let b = backend(&eps).await;
        // etcd's TTLs are whole seconds and expire on its own clock.
        lease_backend_contract(
            &b,
            &unique("contract"),
            Duration::from_secs(1),
            false,
            Duration::from_secs(6),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crashed_leader_is_replaced_within_ttl_plus_1s_and_fenced() {
        let Some(eps) = endpoints() else { return };
        takeover(|| backend(&eps), Kill::Crash).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partitioned_leader_steps_down_and_is_replaced_and_fenced() {
        let Some(eps) = endpoints() else { return };
        takeover(|| backend(&eps), Kill::Partition).await;
    }

    /// One etcd member from `RESILIENCE_ETCD_MEMBERS`.
    #[derive(Debug, Clone)]
    struct Member {
        name: String,
        pid: u32,
        url: String,
    }

    /// The members, with their *current* pids: `services.sh etcd-start`
    /// (run when a test revives a member it killed) rewrites the env file,
    /// so read it again rather than trust this process's environment.
    fn members() -> Option<Vec<Member>> {
        let from_env = server_env("RESILIENCE_ETCD_MEMBERS")?;
        let raw = std::env::var("RESILIENCE_SERVICES_ENV")
            .ok()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| {
                text.lines().find_map(|l| {
                    l.strip_prefix("export RESILIENCE_ETCD_MEMBERS='")
                        .and_then(|v| v.strip_suffix('\''))
                        .map(str::to_string)
                })
            })
            .unwrap_or(from_env);
        let members = raw
            .split(';')
            .map(|m| {
                let f: Vec<&str> = m.split(',').collect();
                Member {
                    name: f[0].to_string(),
                    pid: f[1].parse().expect("member pid"),
                    url: f[2].to_string(),
                }
            })
            .collect::<Vec<_>>();
        assert_eq!(members.len(), 3, "the test cluster has 3 members: {raw}");
        Some(members)
    }

    /// A member that is *not* etcd's raft leader.
    ///
    /// Killing the raft leader would also work for this test, but etcd then
    /// elects a new raft leader and extends every lease by its TTL (so that
    /// a leader change never expires leases): the takeover-time tests
    /// running in parallel (nextest runs tests as parallel processes) would
    /// see their leases outlive TTL + 1 s. Killing a follower member loses
    /// one of three members just the same and disturbs nobody else.
    async fn raft_follower(members: &[Member]) -> Member {
        for m in members {
            let Ok(mut c) = etcd_client::Client::connect([&m.url], None).await else {
                continue;
            };
            if let Ok(s) = c.status().await {
                if s.header().map(|h| h.member_id()) != Some(s.leader()) {
                    return m.clone();
                }
            }
        }
        panic!("no etcd member reports a raft leader other than itself: {members:?}");
    }

    /// Restarts the killed member when the test ends, pass or fail, so the
    /// cluster has 3 members again for the next test.
    struct Revive(String);
    impl Drop for Revive {
        fn drop(&mut self) {
            let script = std::env::var("RESILIENCE_SERVICES_SCRIPT")
                .unwrap_or_else(|_| "scripts/services.sh".into());
            let ok = std::process::Command::new(script)
                .args(["etcd-start", &self.0])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("could not restart etcd member {}", self.0);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn election_survives_losing_one_etcd_member() {
        let Some(eps) = endpoints() else { return };
        let Some(members) = members() else { return };
        let lease = unique("member-loss");
        let (a, _) = start(
            Partitionable::new(backend(&eps).await),
            tolerant_config(&lease, "node-a"),
        );
        let first = lead_within(&a, Duration::from_secs(5))
            .await
            .expect("a leads");
        let (b, _) = start(
            Partitionable::new(backend(&eps).await),
            tolerant_config(&lease, "node-b"),
        );
        let monitor = SplitBrainMonitor::watch(&a, &b);
        tokio::time::sleep(Duration::from_millis(800)).await;

        let victim = raft_follower(&members).await;
        let _revive = Revive(victim.name.clone());
        let killed = std::process::Command::new("kill")
            .args(["-9", &victim.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(
            killed.success(),
            "kill etcd member {} (pid {})",
            victim.name,
            victim.pid
        );

        // Quorum 2 of 3 remains: exactly one leader, leading steadily (the
        // clients route around the dead member).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (leader, follower) = match (a.is_leader(), b.is_leader()) {
            (true, false) => (a, b),
            (false, true) => (b, a),
            state => panic!("no single leader after losing {}: {state:?}", victim.name),
        };
        let token = leader.token().unwrap();
        assert!(token >= first);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            leader.is_leader() && !follower.is_leader(),
            "leadership flapped on 2 members"
        );
        assert_eq!(leader.token(), Some(token));

        // A leader crash is still handled by the remaining quorum.
        let crashed = Instant::now();
        leader.abort();
        let ttl = Duration::from_secs(3);
        let next = lead_within(&follower, ttl + Duration::from_secs(3))
            .await
            .expect("the follower takes over on a 2-member quorum");
        assert!(
            crashed.elapsed() <= ttl + Duration::from_secs(1),
            "took {:?}",
            crashed.elapsed()
        );
        assert!(next > token);
        monitor.assert_none();
        follower.stop().await;
    }
}
