//! The readiness endpoint over real HTTP: an axum server on loopback and a
//! plain TCP client, driven through a degradation manager's levels.
#![cfg(feature = "axum")]

use std::time::Duration;

use axum::Router;
use resilience_core::degradation::{ComponentHealth, DegradationManager};
use resilience_core::readiness::{Readiness, ReadinessChecks};
use resilience_tower::readiness::ReadinessService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One HTTP/1.1 GET; returns the status code and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status: u16 = raw[9..12].parse().unwrap();
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn readiness_endpoint_answers_200_while_serving_and_503_when_not_ready() {
    let manager =
        DegradationManager::new(resilience_core::presets::workflow_runtime::degradation().unwrap())
            .unwrap();
    let cache_warm = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let warm = cache_warm.clone();
    let checks = ReadinessChecks::new()
        .check(manager.clone())
        .check_fn("cache", move || {
            if warm.load(std::sync::atomic::Ordering::Relaxed) {
                Readiness::Ready
            } else {
                Readiness::NotReady("cache cold".into())
            }
        });
    let app: Router = Router::new().route_service("/ready", ReadinessService::new(checks));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (status, body) = get(addr, "/ready").await;
    assert_eq!(status, 200, "all checks ready: 200 ({body})");
    assert!(body.starts_with(r#"{"state":"ready""#), "{body}");

    // The metadata database down: the workflow runtime serves, degraded.
    manager
        .report_by_name("metadata_db_primary", ComponentHealth::Down)
        .unwrap();
    let (status, body) = get(addr, "/ready").await;
    assert_eq!(
        status, 200,
        "a degraded instance still serves: 200 ({body})"
    );
    assert!(body.contains(r#""state":"degraded""#), "{body}");
    assert!(body.contains("degradation level"), "{body}");

    // One check not ready: out of rotation, and the body says which.
    cache_warm.store(false, std::sync::atomic::Ordering::Relaxed);
    let (status, body) = get(addr, "/ready").await;
    assert_eq!(status, 503, "a check not ready: 503 ({body})");
    assert!(
        body.contains(r#""name":"cache","state":"not_ready","reason":"cache cold""#),
        "{body}"
    );

    server.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
}
