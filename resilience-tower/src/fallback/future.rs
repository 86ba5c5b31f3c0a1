use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use resilience_core::circuit_breaker::Outcome;
use tower::util::{BoxCloneSyncService, Oneshot};
use tower::{BoxError, ServiceExt};

use super::layer::Chain;
use super::{ClassifiedAsFailure, FallbackExhausted, Quality, Served, Source, StepFailure};
use crate::classify::ClassifyOutcome;
use crate::error::PolledAfterCompletion;

/// The response future of a [`FallbackService`](super::FallbackService).
#[pin_project]
pub struct ResponseFuture<F, Req, Res, C> {
    #[pin]
    state: State<F, Req, Res>,
    request: Option<Req>,
    chain: Arc<Chain<Req, Res>>,
    classifier: C,
    failures: Vec<StepFailure>,
}

#[pin_project(project = StateProj)]
enum State<F, Req, Res> {
    Primary {
        #[pin]
        future: F,
    },
    Step {
        index: usize,
        #[pin]
        future: Oneshot<BoxCloneSyncService<Req, Res, BoxError>, Req>,
    },
    Done,
}

impl<F, Req, Res, C> ResponseFuture<F, Req, Res, C> {
    pub(crate) fn new(
        future: F,
        request: Option<Req>,
        chain: Arc<Chain<Req, Res>>,
        classifier: C,
    ) -> Self {
        ResponseFuture {
            state: State::Primary { future },
            request,
            chain,
            classifier,
            failures: Vec::new(),
        }
    }
}

impl<F, Req, Res, C> std::fmt::Debug for ResponseFuture<F, Req, Res, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("primary", &self.chain.primary)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl<F, Req, Res, C, E> Future for ResponseFuture<F, Req, Res, C>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    Req: Clone,
    C: ClassifyOutcome<Res, BoxError>,
{
    type Output = Result<Served<Res>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            // The step that just finished: its index (0 = primary) and result.
            let (index, result) = match this.state.as_mut().project() {
                StateProj::Primary { future } => (0, ready!(future.poll(cx)).map_err(Into::into)),
                StateProj::Step { index, future } => (*index, ready!(future.poll(cx))),
                StateProj::Done => return Poll::Ready(Err(PolledAfterCompletion.into())),
            };
            let (name, quality, served) = match index {
                0 => (
                    &this.chain.primary,
                    &Quality::Fresh,
                    &this.chain.primary_served,
                ),
                i => {
                    let s = &this.chain.steps[i - 1];
                    (&s.name, &s.quality, &s.served)
                }
            };
            let is_last = index == this.chain.steps.len();
            let failed = this.classifier.classify(&result) == Outcome::Failure;
            if !failed || is_last {
                this.state.set(State::Done);
                return Poll::Ready(match result {
                    Ok(response) => {
                        served.increment(1);
                        #[cfg(feature = "tracing")]
                        if index > 0 {
                            tracing::info!(
                                step = index,
                                served_by = %name,
                                quality = ?quality,
                                failed_steps = this.failures.len(),
                                "fallback served the request"
                            );
                        }
                        Ok(Served {
                            response,
                            source: Source {
                                step: index,
                                name: name.clone(),
                                quality: quality.clone(),
                                failures: std::mem::take(this.failures),
                            },
                        })
                    }
                    Err(error) => {
                        this.chain.exhausted.increment(1);
                        #[cfg(feature = "tracing")]
                        tracing::warn!(
                            steps = index + 1,
                            last = %name,
                            %error,
                            "fallback chain exhausted: every step failed"
                        );
                        this.failures.push(StepFailure {
                            name: name.clone(),
                            error,
                        });
                        Err(FallbackExhausted {
                            failures: std::mem::take(this.failures),
                        }
                        .into())
                    }
                });
            }
            this.failures.push(StepFailure {
                name: name.clone(),
                error: match result {
                    Err(e) => e,
                    Ok(_) => ClassifiedAsFailure.into(),
                },
            });
            let next = index + 1;
            let request = if next == this.chain.steps.len() {
                this.request.take()
            } else {
                this.request.clone()
            };
            let Some(request) = request else {
                this.state.set(State::Done);
                return Poll::Ready(Err(PolledAfterCompletion.into()));
            };
            let service = this.chain.steps[next - 1].service.clone();
            this.state.set(State::Step {
                index: next,
                future: service.oneshot(request),
            });
        }
    }
}
