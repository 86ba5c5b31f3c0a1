use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project::pin_project;
use tokio::time::Sleep;
use tower::BoxError;
use tower_service::Service;

use super::layer::Inner;
use crate::error::PolledAfterCompletion;

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The response future of a [`HedgeService`](super::HedgeService): the
/// original request, the hedge timer, and the second request once sent.
///
/// The first *success* wins and the other request is dropped at once
/// (cancelled). A failure does not win: if one request fails while the
/// other is in flight, the other is awaited; if both fail, the original
/// request's error is returned. An original request that fails before the
/// hedge delay ends its call (failures are the retry layer's business, not
/// the hedge's).
#[pin_project]
pub struct ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    #[pin]
    primary: Option<S::Future>,
    #[pin]
    hedge: Option<S::Future>,
    #[pin]
    timer: Option<Sleep>,
    /// The clone of the service and the copy of the request for the hedge,
    /// until it is sent or abandoned.
    launch: Option<(S, Req)>,
    /// The original request's error, kept while the hedge runs.
    primary_error: Option<BoxError>,
    /// When the original request started, if latencies are recorded.
    started: Option<Instant>,
    hedge_started: Option<Instant>,
    shared: Arc<Inner>,
    done: bool,
}

impl<S, Req> ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    pub(crate) fn new(
        primary: S::Future,
        launch: Option<(Duration, S, Req)>,
        shared: Arc<Inner>,
    ) -> Self {
        let (timer, launch) = match launch {
            Some((after, service, request)) => {
                (Some(tokio::time::sleep(after)), Some((service, request)))
            }
            None => (None, None),
        };
        ResponseFuture {
            primary: Some(primary),
            hedge: None,
            timer,
            launch,
            primary_error: None,
            started: shared.records().then(now),
            hedge_started: None,
            shared,
            done: false,
        }
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(Err(PolledAfterCompletion.into()));
        }
        loop {
            // 1. The original request.
            if let Some(primary) = this.primary.as_mut().as_pin_mut() {
                if let Poll::Ready(result) = primary.poll(cx) {
                    this.primary.set(None);
                    match result {
                        Ok(response) => {
                            if let Some(at) = *this.started {
                                let t = now();
                                this.shared.record(t, t.saturating_duration_since(at));
                            }
                            if this.hedge_started.is_some() {
                                this.shared.won(false);
                            }
                            this.hedge.set(None); // cancel the loser
                            *this.done = true;
                            return Poll::Ready(Ok(response));
                        }
                        Err(e) if this.hedge.is_some() => {
                            *this.primary_error = Some(e.into());
                        }
                        Err(e) => {
                            *this.done = true;
                            this.timer.set(None);
                            *this.launch = None;
                            return Poll::Ready(Err(e.into()));
                        }
                    }
                }
            }
            // 2. The hedge, once sent.
            if let Some(hedge) = this.hedge.as_mut().as_pin_mut() {
                if let Poll::Ready(result) = hedge.poll(cx) {
                    this.hedge.set(None);
                    match result {
                        Ok(response) => {
                            if let Some(at) = *this.hedge_started {
                                let t = now();
                                this.shared.record(t, t.saturating_duration_since(at));
                            }
                            this.shared.won(true);
                            this.primary.set(None); // cancel the loser
                            *this.done = true;
                            return Poll::Ready(Ok(response));
                        }
                        Err(e) => {
                            if let Some(first) = this.primary_error.take() {
                                // Both failed: the original request's error.
                                *this.done = true;
                                return Poll::Ready(Err(first));
                            }
                            // The original request is still running.
                            drop(e);
                        }
                    }
                }
            }
            // 3. Send the hedge when its time comes.
            if this.primary.is_none() || this.launch.is_none() {
                return Poll::Pending;
            }
            if let Some(timer) = this.timer.as_mut().as_pin_mut() {
                if timer.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.timer.set(None);
                if !this.shared.can_hedge() {
                    this.shared.refused();
                    *this.launch = None;
                    return Poll::Pending;
                }
            }
            let Some((service, _)) = this.launch.as_mut() else {
                return Poll::Pending;
            };
            match service.poll_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => {
                    // The second copy cannot go; the first carries on.
                    this.shared.not_ready();
                    *this.launch = None;
                    return Poll::Pending;
                }
                Poll::Ready(Ok(())) => {
                    let Some((mut service, request)) = this.launch.take() else {
                        return Poll::Pending;
                    };
                    if !this.shared.try_hedge() {
                        return Poll::Pending;
                    }
                    *this.hedge_started = Some(now());
                    this.hedge.set(Some(service.call(request)));
                    // Loop: poll the new request once so it registers its
                    // wake-up.
                }
            }
        }
    }
}

impl<S, Req> fmt::Debug for ResponseFuture<S, Req>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("primary_running", &self.primary.is_some())
            .field("hedge_running", &self.hedge.is_some())
            .field("hedge_pending", &self.launch.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
