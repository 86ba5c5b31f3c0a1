//! A real HTTP gateway and upstream on loopback, shared by the real-service
//! tests (`tests/http_gateway.rs`) and the overhead benchmark
//! (`benches/http_gateway.rs`).
//!
//! * The **upstream** is an axum server whose behaviour the test switches at
//!   run time: healthy, failing with 500, slow, or holding every request
//!   until released.
//! * The **gateway** is an axum server that forwards `/api/*` to the
//!   upstream through a client service: hyper's pooled HTTP/1 client,
//!   wrapped (or not) in a `ResilienceStack`. An error of the stack becomes
//!   its HTTP answer through `resilience::layers::error::ErrorResponse`.
//! * [`client`] is a plain hyper client for the test's own requests.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use resilience::layers::error::ErrorResponse;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tower::{BoxError, Service, ServiceExt};

/// hyper's pooled HTTP/1 client, as the gateway uses it upstream.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A pooled HTTP/1 client.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build_http()
}

/// What the upstream does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 200 at once.
    Healthy = 0,
    /// 500 at once.
    Fail = 1,
    /// 200 after the configured delay.
    Slow = 2,
    /// 200 once [`Upstream::release`] is called.
    Hold = 3,
}

/// The upstream's switches and counters.
#[derive(Debug)]
pub struct Upstream {
    /// Its address.
    pub addr: SocketAddr,
    mode: AtomicU8,
    slow_ms: AtomicU64,
    hits: AtomicU64,
    release: Notify,
    held: AtomicU64,
}

impl Upstream {
    /// Switches the behaviour.
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Sets the delay of [`Mode::Slow`].
    pub fn set_delay(&self, d: Duration) {
        self.slow_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Requests that reached the upstream.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    /// Requests waiting in [`Mode::Hold`].
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }

    /// Lets every held request (and every later one in `Hold`) answer.
    pub fn release(&self) {
        self.set(Mode::Healthy);
        self.release.notify_waiters();
    }
}

async fn upstream_handler(State(up): State<Arc<Upstream>>) -> Response {
    up.hits.fetch_add(1, Ordering::SeqCst);
    let mode = up.mode.load(Ordering::SeqCst);
    if mode == Mode::Fail as u8 {
        return (http::StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response();
    }
    if mode == Mode::Slow as u8 {
        let ms = up.slow_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if mode == Mode::Hold as u8 {
        let released = up.release.notified();
        up.held.fetch_add(1, Ordering::SeqCst);
        if up.mode.load(Ordering::SeqCst) == Mode::Hold as u8 {
            released.await;
        }
        up.held.fetch_sub(1, Ordering::SeqCst);
    }
    (http::StatusCode::OK, "ok").into_response()
}

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Starts an upstream on loopback.
pub async fn start_upstream() -> (Arc<Upstream>, JoinHandle<()>) {
    let (listener, addr) = listen().await;
    let up = Arc::new(Upstream {
        addr,
        mode: AtomicU8::new(Mode::Healthy as u8),
        slow_ms: AtomicU64::new(0),
        hits: AtomicU64::new(0),
        release: Notify::new(),
        held: AtomicU64::new(0),
    });
    let app = Router::new()
        .fallback(upstream_handler)
        .with_state(up.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("upstream server");
    });
    (up, task)
}

/// The gateway's state: where to forward, and through what.
#[derive(Clone)]
struct Forward<S> {
    upstream: SocketAddr,
    client: S,
}

async fn forward<S>(State(f): State<Forward<S>>, req: Request) -> Response
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<hyper::body::Incoming>>
        + Clone,
    S::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(b) => b,
        Err(_) => return (http::StatusCode::BAD_REQUEST, "body too large").into_response(),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("http://{}{}", f.upstream, path)
        .parse()
        .expect("a valid upstream uri");
    let upstream_req = http::Request::from_parts(parts, Full::new(body));
    match f.client.oneshot(upstream_req).await {
        Ok(res) => res.map(Body::new),
        Err(e) => ErrorResponse::from(e.into()).into_response(),
    }
}

/// Starts a gateway on loopback forwarding everything to `upstream`
/// through `client` (a bare client, or one wrapped in a stack).
pub async fn start_gateway<S>(upstream: SocketAddr, client: S) -> (SocketAddr, JoinHandle<()>)
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<hyper::body::Incoming>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    let (listener, addr) = listen().await;
    let app = Router::new()
        .fallback(forward::<S>)
        .with_state(Forward { upstream, client });
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("gateway server");
    });
    (addr, task)
}

/// One answer, as a client saw it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: http::StatusCode,
    /// The `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// The body.
    pub body: String,
    /// Time from sending to the end of the body.
    pub took: Duration,
}

/// Sends `GET path` to `addr` and reads the whole answer.
pub async fn get(client: &HttpClient, addr: SocketAddr, path: &str) -> Result<Answer, BoxError> {
    let start = std::time::Instant::now();
    let req = http::Request::get(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    let res = client.request(req).await?;
    let status = res.status();
    let retry_after = res
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = res.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&body).into_owned(),
        took: start.elapsed(),
    })
}
