//! The README's stack inside a real HTTP service: an axum gateway in front
//! of an axum upstream, both on loopback, called by a real HTTP client.
//!
//! The stack is the README's own config (read from README.md), built with
//! `ResilienceStack::http_with_clock` on a `ManualClock`: the breaker's
//! open duration passes when the test advances that clock, while timeouts
//! and backoff waits are real (tokio's clock), as in production.

#[path = "support/http_gateway.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use resilience::circuit_breaker::CircuitState;
use resilience::clock::{Clock, ManualClock};
use resilience::layers::stack::{HttpStackClassifier, ResilienceStack};
use support::{client, get, start_gateway, start_upstream, Answer, Mode};

/// The stack config of the README's HTTP example, as written there.
fn readme_stack_yaml() -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find("ResilienceStack::http_from_yaml(r#\"")
        .expect("the README has an HTTP stack example")
        + "ResilienceStack::http_from_yaml(r#\"".len();
    let end = start + readme[start..].find("\"#").expect("the raw string ends");
    readme[start..end].to_string()
}

fn readme_stack(
    clock: &ManualClock,
) -> ResilienceStack<resilience::layers::retry::CloneAll, HttpStackClassifier> {
    let config =
        resilience::config::from_yaml_str(&readme_stack_yaml()).expect("README config parses");
    ResilienceStack::http_with_clock(config, clock.clone()).expect("README config is valid")
}

/// Every scenario is bounded: a hung request fails the test instead of
/// hanging CI.
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the scenario finished within 60 s")
}

#[test]
fn the_readme_stack_config_is_what_the_tests_run() {
    let yaml = readme_stack_yaml();
    assert!(yaml.contains("open_duration: 30s"), "{yaml}");
    assert!(yaml.contains("deadline: 10s"), "{yaml}");
    assert!(yaml.contains("timeout: 2s"), "{yaml}");
    assert!(yaml.contains("max_concurrent: 64"), "{yaml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_upstream_every_request_is_answered() {
    bounded(async {
        let clock = ManualClock::new();
        let stack = readme_stack(&clock);
        let (up, _u) = start_upstream().await;
        let (gw, _g) = start_gateway(up.addr, tower::Layer::layer(&stack, client())).await;
        let c = client();
        for i in 0..200 {
            let a = get(&c, gw, &format!("/api/items/{i}"))
                .await
                .expect("an answer");
            assert_eq!(a.status, 200, "{a:?}");
            assert_eq!(a.body, "ok");
        }
        assert_eq!(up.hits(), 200);
        assert_eq!(stack.breaker().unwrap().state(), CircuitState::Closed);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_upstream_opens_the_breaker_which_fails_fast_with_retry_after_then_heals() {
    bounded(async {
        let clock = ManualClock::new();
        let stack = readme_stack(&clock);
        let breaker = stack.breaker().unwrap().clone();
        let open_duration = Duration::from_secs(30);
        let (up, _u) = start_upstream().await;
        let (gw, _g) = start_gateway(up.addr, tower::Layer::layer(&stack, client())).await;
        let c = client();

        // 100 % 500s: the gateway passes the upstream's last 500 on (after
        // retrying it), until the breaker has seen enough to open.
        up.set(Mode::Fail);
        let mut sent = 0;
        while breaker.state() != CircuitState::Open {
            sent += 1;
            assert!(sent <= 10, "the breaker opens within 10 failing requests");
            let a = get(&c, gw, "/api/orders").await.expect("an answer");
            // The upstream's own answer, or a 503 when the breaker opened
            // between this request's attempts.
            assert!(
                a.status == 500 || (a.status == 503 && breaker.state() == CircuitState::Open),
                "{a:?}"
            );
        }
        let hits_when_open = up.hits();

        // Open, low traffic: every answer is a fast 503 with Retry-After.
        for _ in 0..20 {
            let a = get(&c, gw, "/api/orders").await.expect("an answer");
            assert_eq!(a.status, 503, "{a:?}");
            assert!(
                a.took < Duration::from_millis(100),
                "fails fast, took {:?}",
                a.took
            );
            let retry_after = a.retry_after.expect("a 503 says when to come back");
            assert!(
                retry_after >= 1 && retry_after <= open_duration.as_secs(),
                "Retry-After {retry_after} s within the 30 s open duration"
            );
            assert!(a.body.contains("circuit breaker"), "{}", a.body);
        }
        assert_eq!(
            up.hits(),
            hits_when_open,
            "an open breaker spares the upstream"
        );

        // Heal; a client retries once per second (of the breaker's clock).
        up.set(Mode::Healthy);
        let healed_at = clock.now();
        let first_success = loop {
            clock.advance(Duration::from_secs(1));
            let a: Answer = get(&c, gw, "/api/orders").await.expect("an answer");
            if a.status == 200 {
                break clock.now();
            }
            assert_eq!(a.status, 503, "{a:?}");
            let retry_after = a.retry_after.expect("Retry-After");
            let left = open_duration.saturating_sub(clock.now() - healed_at);
            assert!(
                retry_after <= left.as_secs() + 1,
                "Retry-After {retry_after} s is the time left ({left:?}), rounded up"
            );
            assert!(clock.now() - healed_at <= open_duration + Duration::from_secs(2));
        };
        assert!(
            first_success - healed_at <= open_duration + Duration::from_secs(2),
            "first success {:?} after the heal; the breaker is open for {open_duration:?}",
            first_success - healed_at
        );
        // Two more trials close it.
        for _ in 0..2 {
            assert_eq!(get(&c, gw, "/api/orders").await.unwrap().status, 200);
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_slower_than_the_timeout_gets_504_within_timeout_times_attempts() {
    bounded(async {
        let clock = ManualClock::new();
        let stack = readme_stack(&clock);
        let (up, _u) = start_upstream().await;
        let (gw, _g) = start_gateway(up.addr, tower::Layer::layer(&stack, client())).await;
        let c = client();
        up.set_delay(Duration::from_secs(5));
        up.set(Mode::Slow);
        let a = get(&c, gw, "/api/report").await.expect("an answer");
        assert_eq!(a.status, 504, "{a:?}");
        // 3 attempts of 2 s, backoff waits of at most 100 ms and 200 ms
        // (full jitter), and a margin for the loopback round trips.
        let bound =
            Duration::from_secs(2) * 3 + Duration::from_millis(300) + Duration::from_millis(700);
        assert!(a.took <= bound, "took {:?}, bound {bound:?}", a.took);
        assert!(
            a.took >= Duration::from_secs(6),
            "three attempts were made: {:?}",
            a.took
        );
        assert_eq!(up.hits(), 3);
        assert!(a.body.contains("timeout"), "{}", a.body);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_bulkhead_answers_429_and_every_request_gets_an_answer() {
    bounded(async {
        let clock = ManualClock::new();
        let stack = readme_stack(&clock);
        let (up, _u) = start_upstream().await;
        let (gw, _g) = start_gateway(up.addr, tower::Layer::layer(&stack, client())).await;
        let c = Arc::new(client());
        up.set(Mode::Hold);

        // 64 requests take every permit and wait in the upstream.
        let mut held = Vec::new();
        for i in 0..64 {
            let c = c.clone();
            held.push(tokio::spawn(async move {
                get(&c, gw, &format!("/api/slow/{i}")).await
            }));
        }
        let waited = std::time::Instant::now();
        while up.held() < 64 {
            assert!(
                waited.elapsed() < Duration::from_secs(20),
                "64 requests reach the upstream"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // More requests find no permit within max_wait (50 ms, per attempt).
        for _ in 0..5 {
            let a = get(&c, gw, "/api/more").await.expect("an answer");
            assert_eq!(a.status, 429, "{a:?}");
            assert!(
                a.took < Duration::from_secs(2),
                "rejected quickly: {:?}",
                a.took
            );
            assert!(a.body.contains("bulkhead"), "{}", a.body);
        }
        assert_eq!(
            up.hits(),
            64,
            "the rejected requests never reached the upstream"
        );
        assert_eq!(
            stack.breaker().unwrap().state(),
            CircuitState::Closed,
            "local overload is not the upstream's failure"
        );

        up.release();
        for h in held {
            let a = h.await.expect("the task ran").expect("an answer");
            assert_eq!(a.status, 200, "{a:?}");
        }
    })
    .await
}
