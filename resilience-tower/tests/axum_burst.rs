//! A real HTTP server on loopback with the stack in front of a flaky
//! handler. Under a burst of 10 000 requests every request gets a response
//! (200) or a typed error mapped to a status (500 dependency failure, 503
//! breaker open, 429 bulkhead full, 504 timeout): none is lost and none
//! hangs; the breaker opens while the handler fails and recovers after it
//! heals. The breaker's time is a `ManualClock`: recovery happens because
//! the test advances it, not because the test waits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::{Request, Response, StatusCode};
use axum::Router;
use resilience_core::bulkhead::BulkheadFull;
use resilience_core::circuit_breaker::{CircuitBreakerEventKind, CircuitOpen, CircuitState};
use resilience_core::clock::ManualClock;
use resilience_tower::retry::NoClone;
use resilience_tower::stack::{ResilienceStack, StackConfig};
use resilience_tower::timeout::Elapsed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::{service_fn, BoxError, ServiceBuilder};

async fn to_status(err: BoxError) -> (StatusCode, String) {
    if let Some(open) = err.downcast_ref::<CircuitOpen>() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("retry after {:?}", open.retry_after()),
        )
    } else if err.is::<BulkheadFull>() {
        (StatusCode::TOO_MANY_REQUESTS, err.to_string())
    } else if err.is::<Elapsed>() {
        (StatusCode::GATEWAY_TIMEOUT, err.to_string())
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
    }
}

async fn get(addr: std::net::SocketAddr) -> Result<u16, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    stream
        .read_to_end(&mut buf)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))
}

async fn burst(addr: std::net::SocketAddr, n: usize) -> BTreeMap<u16, usize> {
    let limit = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = limit.clone().acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let r = tokio::time::timeout(Duration::from_secs(30), get(addr)).await;
            drop(permit);
            r
        }));
    }
    let mut statuses = BTreeMap::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(Ok(status)) => *statuses.entry(status).or_insert(0) += 1,
            Ok(Err(e)) => panic!("request lost: {e}"),
            Err(_) => panic!("request hung for 30 s"),
        }
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_ten_thousand_requests_none_lost_breaker_opens_and_recovers() {
    let clock = ManualClock::new();
    let config: StackConfig = resilience_core::config::from_yaml_str(
        "name: flaky\n\
         circuit_breaker: { window: { count: 50 }, minimum_calls: 20, failure_rate_threshold: 0.5, open_duration: 30s, half_open_permits: 4 }\n\
         bulkhead: { max_concurrent: 32, max_wait: 1s }\n\
         timeout: 5s",
    )
    .unwrap();
    let stack = ResilienceStack::with_clock(config, Arc::new(clock.clone())).unwrap();
    let breaker = stack.breaker().unwrap().clone();
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let sink = transitions.clone();
    breaker.on_event(move |e| {
        if let CircuitBreakerEventKind::StateTransition { from, to, .. } = e.kind {
            sink.lock().unwrap().push((from, to));
        }
    });

    let down = Arc::new(AtomicBool::new(true));
    let reached = Arc::new(AtomicUsize::new(0));
    let (d, r) = (down.clone(), reached.clone());
    let handler = service_fn(move |_req: Request<Body>| {
        r.fetch_add(1, Ordering::SeqCst);
        let failing = d.load(Ordering::SeqCst);
        async move {
            if failing {
                Err::<Response<Body>, BoxError>("backend unavailable".into())
            } else {
                Ok(Response::new(Body::from("ok")))
            }
        }
    });
    let app = Router::new().route_service(
        "/",
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(to_status))
            .layer(stack.with_request_cloning(NoClone))
            .service(handler),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // Phase 1: the handler fails. The breaker opens after a few failures and
    // then answers 503 without reaching the handler.
    let first = burst(addr, 5_000).await;
    assert_eq!(first.values().sum::<usize>(), 5_000);
    assert!(first.keys().all(|s| [500, 503].contains(s)), "{first:?}");
    assert!(first.get(&503).copied().unwrap_or(0) > 4_000, "{first:?}");
    assert_eq!(breaker.state(), CircuitState::Open);
    let reached_while_down = reached.load(Ordering::SeqCst);
    assert!(
        reached_while_down < 100,
        "the open breaker shielded the handler: {reached_while_down}"
    );

    // Phase 2: the handler heals; the open duration passes on the breaker's
    // clock; the half-open trials succeed and the breaker closes.
    down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(30));
    let second = burst(addr, 5_000).await;
    assert_eq!(second.values().sum::<usize>(), 5_000);
    assert!(second.keys().all(|s| [200, 503].contains(s)), "{second:?}");
    assert!(second.get(&200).copied().unwrap_or(0) > 4_900, "{second:?}");
    assert_eq!(breaker.state(), CircuitState::Closed);

    let seen = transitions.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (CircuitState::Closed, CircuitState::Open),
            (CircuitState::Open, CircuitState::HalfOpen),
            (CircuitState::HalfOpen, CircuitState::Closed),
        ]
    );
    server.abort();
}
