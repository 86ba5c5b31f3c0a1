use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use tokio::time::Sleep;
use tower::BoxError;

use super::layer::{Decision, FaultKind, InjectedFault};
use crate::error::PolledAfterCompletion;

/// The response future of a [`ChaosService`](super::ChaosService).
#[pin_project]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    state: State<F>,
}

#[pin_project(project = StateProj)]
#[derive(Debug)]
enum State<F> {
    Passthrough {
        #[pin]
        future: F,
    },
    Faulty {
        #[pin]
        sleep: Option<Sleep>,
        #[pin]
        future: F,
        abort: Option<InjectedFault>,
    },
    Failed {
        error: Option<InjectedFault>,
    },
}

impl<F> ResponseFuture<F> {
    pub(crate) fn passthrough(future: F) -> Self {
        ResponseFuture {
            state: State::Passthrough { future },
        }
    }

    pub(crate) fn failed(error: InjectedFault) -> Self {
        ResponseFuture {
            state: State::Failed { error: Some(error) },
        }
    }

    pub(crate) fn faulty(future: F, d: Decision) -> Self {
        ResponseFuture {
            state: State::Faulty {
                sleep: d.delay.map(tokio::time::sleep),
                future,
                abort: d.abort.then_some(InjectedFault {
                    kind: FaultKind::Abort,
                    call: d.call,
                }),
            },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Passthrough { future } => future.poll(cx).map_err(Into::into),
            StateProj::Faulty {
                mut sleep,
                future,
                abort,
            } => {
                if let Some(s) = sleep.as_mut().as_pin_mut() {
                    ready!(s.poll(cx));
                    sleep.set(None);
                }
                let result = ready!(future.poll(cx));
                match abort.take() {
                    Some(fault) => Poll::Ready(Err(fault.into())),
                    None => Poll::Ready(result.map_err(Into::into)),
                }
            }
            StateProj::Failed { error } => Poll::Ready(Err(match error.take() {
                Some(e) => e.into(),
                None => PolledAfterCompletion.into(),
            })),
        }
    }
}
