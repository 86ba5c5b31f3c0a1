//! A readiness endpoint (feature `axum`): [`ReadinessChecks`] served over
//! HTTP for a load balancer or a Kubernetes `readinessProbe`.
//!
//! [`ReadinessService`] answers every request with the combined report as
//! JSON: `200 OK` while the instance serves traffic (ready or degraded),
//! `503 Service Unavailable` when a check is not ready. Mount it with
//! axum's `route_service`; it reads state the components already keep, so
//! a probe every second costs a few loads and one small allocation for the
//! body.
//!
//! ```
//! use axum::Router;
//! use resilience_core::degradation::DegradationManager;
//! use resilience_core::readiness::ReadinessChecks;
//! use resilience_tower::readiness::ReadinessService;
//!
//! let manager = DegradationManager::new(
//!     resilience_core::presets::workflow_runtime::degradation().unwrap(),
//! )
//! .unwrap();
//! let app: Router = Router::new()
//!     .route_service("/ready", ReadinessService::new(ReadinessChecks::new().check(manager)));
//! # let _ = app;
//! ```
//!
//! The body: `{"state":"degraded","checks":[{"name":"workflow_runtime",
//! "state":"degraded","reason":"degradation level `…`"}]}`.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use axum_core::body::Body;
use http::{header, HeaderValue, Request, Response, StatusCode};
use resilience_core::readiness::{ReadinessChecks, ReadinessReport};
use tower_service::Service;

/// Serves a [`ReadinessChecks`] report (see the [module docs](self)).
/// Cheap to clone: clones share the checks.
#[derive(Debug, Clone)]
pub struct ReadinessService {
    checks: ReadinessChecks,
}

impl ReadinessService {
    /// Serves `checks`.
    pub fn new(checks: ReadinessChecks) -> Self {
        ReadinessService { checks }
    }

    /// The checks served.
    pub fn checks(&self) -> &ReadinessChecks {
        &self.checks
    }

    /// The HTTP answer for a report: 200 while it serves traffic, else 503;
    /// JSON body; `Cache-Control: no-store` so no proxy answers a probe
    /// from an old report.
    pub fn response(report: &ReadinessReport) -> Response<Body> {
        let status = if report.state.serves_traffic() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let mut response = Response::new(Body::from(report.to_json()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl<B> Service<Request<B>> for ReadinessService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        ready(Ok(ReadinessService::response(&self.checks.report())))
    }
}
