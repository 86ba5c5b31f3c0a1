//! The acquire futures and the runtime-agnostic timer hook.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project::{pin_project, pinned_drop};

use super::semaphore::{Enqueue, Ticket, TicketState};
use super::{Bulkhead, BulkheadFull, BulkheadPermit, OwnedBulkheadPermit, RejectReason, Shared};

/// Where a waiting caller's deadline comes from.
///
/// Core has no timer of its own (it depends on no runtime), so the caller
/// supplies one. Any `Fn(Duration) -> F` where `F: Future<Output = ()>` is a
/// timer, so with tokio you pass `tokio::time::sleep` itself:
///
/// ```
/// use std::time::Duration;
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig};
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let b = Bulkhead::new("api", BulkheadConfig::new(1).max_wait(Duration::from_secs(10))).unwrap();
/// let permit = b.acquire(tokio::time::sleep).await.unwrap();
/// # drop(permit);
/// # });
/// ```
///
/// A timer type of your own (for a runtime, or a test clock) implements
/// the trait directly:
///
/// ```
/// use std::future::{ready, Ready};
/// use std::time::Duration;
/// use resilience_core::bulkhead::Timer;
///
/// /// Expires at once: queueing callers time out on their first poll.
/// #[derive(Debug, Clone, Copy)]
/// struct Expired;
/// impl Timer for Expired {
///     type Sleep = Ready<()>;
///     fn sleep(&self, _: Duration) -> Ready<()> {
///         ready(())
///     }
/// }
/// ```
pub trait Timer {
    /// The future that completes when the wait is over.
    type Sleep: Future<Output = ()>;

    /// Starts a sleep of `duration`. Called once, when the caller starts to
    /// queue, with the bulkhead's `max_wait`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

impl<F, S> Timer for F
where
    F: Fn(Duration) -> S,
    S: Future<Output = ()>,
{
    type Sleep = S;

    fn sleep(&self, duration: Duration) -> S {
        self(duration)
    }
}

/// A timer that never fires: the caller queues until a permit frees up (or
/// until it drops the future). `max_wait` zero still means fail fast.
///
/// ```
/// use resilience_core::bulkhead::{Bulkhead, BulkheadConfig, NoTimer};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
/// assert!(b.acquire(NoTimer).await.is_ok());
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoTimer;

impl Timer for NoTimer {
    type Sleep = std::future::Pending<()>;

    fn sleep(&self, _: Duration) -> Self::Sleep {
        std::future::pending()
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Nothing held yet.
    Start,
    /// Queued at the pool.
    Pool(Ticket),
    /// Holding the pool permit; the shared cap is next.
    SharedStart,
    /// Holding the pool permit, queued at the shared cap.
    Shared(Ticket),
    /// Resolved (or cancelled); nothing held by the future.
    Done,
}

/// The state machine shared by [`Acquire`] and [`AcquireOwned`].
#[derive(Debug)]
struct Core {
    phase: Phase,
    queued_at: Option<Instant>,
}

impl Core {
    fn new() -> Self {
        Core {
            phase: Phase::Start,
            queued_at: None,
        }
    }

    fn start_wait<T: Timer>(
        &mut self,
        bh: &Shared,
        timer: &T,
        mut sleep: Pin<&mut Option<T::Sleep>>,
    ) {
        if self.queued_at.is_none() {
            self.queued_at = Some(bh.clock.now());
            sleep.set(Some(timer.sleep(bh.max_wait())));
        }
    }

    fn finish_ok(&mut self, bh: &Shared) -> Poll<Result<(), BulkheadFull>> {
        self.phase = Phase::Done;
        let waited = self
            .queued_at
            .map(|at| bh.clock.now().saturating_duration_since(at));
        bh.admitted(waited);
        Poll::Ready(Ok(()))
    }

    fn finish_err(
        &mut self,
        bh: &Shared,
        reason: RejectReason,
        at_shared_cap: bool,
    ) -> Poll<Result<(), BulkheadFull>> {
        self.phase = Phase::Done;
        Poll::Ready(Err(bh.reject(reason, at_shared_cap)))
    }

    fn poll<T: Timer>(
        &mut self,
        bh: &Shared,
        timer: &T,
        mut sleep: Pin<&mut Option<T::Sleep>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), BulkheadFull>> {
        loop {
            match self.phase {
                Phase::Start => {
                    if bh.sem.try_acquire() {
                        self.phase = Phase::SharedStart;
                        continue;
                    }
                    if bh.max_wait().is_zero() {
                        return self.finish_err(bh, RejectReason::Full, false);
                    }
                    match bh.sem.enqueue(bh.priority, cx.waker()) {
                        Enqueue::Acquired => {
                            self.phase = Phase::SharedStart;
                            continue;
                        }
                        Enqueue::QueueFull => {
                            return self.finish_err(bh, RejectReason::QueueFull, false)
                        }
                        Enqueue::Queued(ticket) => {
                            bh.metrics.waiting.increment(1.0);
                            self.start_wait(bh, timer, sleep.as_mut());
                            self.phase = Phase::Pool(ticket);
                        }
                    }
                }
                Phase::Pool(ticket) => match bh.sem.poll_ticket(ticket, cx.waker()) {
                    TicketState::Waiting => {}
                    TicketState::Granted => {
                        bh.metrics.waiting.decrement(1.0);
                        self.phase = Phase::SharedStart;
                        continue;
                    }
                    TicketState::Shed => {
                        bh.metrics.waiting.decrement(1.0);
                        return self.finish_err(bh, RejectReason::Shed, false);
                    }
                },
                Phase::SharedStart => {
                    let Some(cap) = &bh.shared else {
                        return self.finish_ok(bh);
                    };
                    if cap.inner.sem.try_acquire() {
                        return self.finish_ok(bh);
                    }
                    if bh.max_wait().is_zero() {
                        bh.sem.release();
                        return self.finish_err(bh, RejectReason::Full, true);
                    }
                    match cap.inner.sem.enqueue(bh.priority, cx.waker()) {
                        Enqueue::Acquired => return self.finish_ok(bh),
                        Enqueue::QueueFull => {
                            bh.sem.release();
                            return self.finish_err(bh, RejectReason::QueueFull, true);
                        }
                        Enqueue::Queued(ticket) => {
                            cap.inner.metrics.waiting.increment(1.0);
                            self.start_wait(bh, timer, sleep.as_mut());
                            self.phase = Phase::Shared(ticket);
                        }
                    }
                }
                Phase::Shared(ticket) => {
                    let Some(cap) = &bh.shared else {
                        // A pool never loses its cap; be safe anyway.
                        return self.finish_ok(bh);
                    };
                    match cap.inner.sem.poll_ticket(ticket, cx.waker()) {
                        TicketState::Waiting => {}
                        TicketState::Granted => {
                            cap.inner.metrics.waiting.decrement(1.0);
                            return self.finish_ok(bh);
                        }
                        TicketState::Shed => {
                            cap.inner.metrics.waiting.decrement(1.0);
                            bh.sem.release();
                            return self.finish_err(bh, RejectReason::Shed, true);
                        }
                    }
                }
                // Polled after completion: stay pending rather than panic.
                Phase::Done => return Poll::Pending,
            }
            // Queued (Pool or Shared) and not yet served: check the deadline.
            let expired = match sleep.as_mut().as_pin_mut() {
                Some(s) => s.poll(cx).is_ready(),
                None => false,
            };
            return if expired {
                self.time_out(bh)
            } else {
                Poll::Pending
            };
        }
    }

    /// The deadline passed while queued. A permit that was handed over in
    /// the meantime is kept (the call goes ahead) rather than thrown away.
    fn time_out(&mut self, bh: &Shared) -> Poll<Result<(), BulkheadFull>> {
        match self.phase {
            Phase::Pool(ticket) => {
                bh.metrics.waiting.decrement(1.0);
                if !bh.sem.withdraw(ticket) {
                    return self.finish_err(bh, RejectReason::TimedOut, false);
                }
                match &bh.shared {
                    None => self.finish_ok(bh),
                    Some(cap) if cap.inner.sem.try_acquire() => self.finish_ok(bh),
                    Some(_) => {
                        bh.sem.release();
                        self.finish_err(bh, RejectReason::TimedOut, true)
                    }
                }
            }
            Phase::Shared(ticket) => {
                let Some(cap) = &bh.shared else {
                    return self.finish_ok(bh);
                };
                cap.inner.metrics.waiting.decrement(1.0);
                if cap.inner.sem.withdraw(ticket) {
                    self.finish_ok(bh)
                } else {
                    bh.sem.release();
                    self.finish_err(bh, RejectReason::TimedOut, true)
                }
            }
            Phase::Start | Phase::SharedStart | Phase::Done => Poll::Pending,
        }
    }

    /// The future is dropped before it resolved: leave every queue and give
    /// back whatever is held.
    fn cancel(&mut self, bh: &Shared) {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Start | Phase::Done => {}
            Phase::Pool(ticket) => {
                bh.metrics.waiting.decrement(1.0);
                bh.sem.cancel(ticket);
            }
            Phase::SharedStart => bh.sem.release(),
            Phase::Shared(ticket) => {
                if let Some(cap) = &bh.shared {
                    cap.inner.metrics.waiting.decrement(1.0);
                    cap.inner.sem.cancel(ticket);
                }
                bh.sem.release();
            }
        }
    }
}

/// The future of [`Bulkhead::acquire`]: resolves to a borrowing permit, or
/// to [`BulkheadFull`] when the bulkhead is full and the caller may not
/// wait, the queue is full, the wait timed out, or the caller was shed.
///
/// Dropping it before it resolves leaves the queue; no permit is lost.
/// Polling it again after it resolved returns `Pending` (it never panics).
///
/// ```
/// use std::time::Duration;
/// use resilience_core::bulkhead::{Acquire, Bulkhead, BulkheadConfig, NoTimer};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let b = Bulkhead::new("api", BulkheadConfig::new(1).max_wait(Duration::from_secs(1))).unwrap();
/// let held = b.try_acquire().unwrap();
/// let fut: Acquire<'_, NoTimer> = b.acquire(NoTimer);
/// let mut fut = Box::pin(fut);
/// // Poll it once so it queues, then give up on it.
/// assert!(futures_poll_once(fut.as_mut()).is_none());
/// assert_eq!(b.waiting(), 1);
/// drop(fut);
/// assert_eq!(b.waiting(), 0);
/// drop(held);
/// assert_eq!(b.in_flight(), 0);
/// # });
/// # fn futures_poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     match f.poll(&mut cx) { std::task::Poll::Ready(v) => Some(v), std::task::Poll::Pending => None }
/// # }
/// ```
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a, T: Timer> {
    bulkhead: &'a Bulkhead,
    timer: T,
    #[pin]
    sleep: Option<T::Sleep>,
    core: Core,
}

impl<'a, T: Timer> Acquire<'a, T> {
    pub(super) fn new(bulkhead: &'a Bulkhead, timer: T) -> Self {
        Acquire {
            bulkhead,
            timer,
            sleep: None,
            core: Core::new(),
        }
    }
}

impl<'a, T: Timer> Future for Acquire<'a, T> {
    type Output = Result<BulkheadPermit<'a>, BulkheadFull>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let bulkhead: &'a Bulkhead = this.bulkhead;
        this.core
            .poll(&bulkhead.inner, this.timer, this.sleep, cx)
            .map(|r| r.map(|()| BulkheadPermit { bulkhead }))
    }
}

#[pinned_drop]
impl<T: Timer> PinnedDrop for Acquire<'_, T> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        this.core.cancel(&this.bulkhead.inner);
    }
}

impl<T: Timer> fmt::Debug for Acquire<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("bulkhead", &self.bulkhead.inner.name)
            .field("phase", &self.core.phase)
            .finish()
    }
}

/// The future of [`Bulkhead::acquire_owned`]: like [`Acquire`], but it owns
/// a handle to the bulkhead (so it is `'static`) and resolves to an
/// [`OwnedBulkheadPermit`].
///
/// ```
/// use resilience_core::bulkhead::{AcquireOwned, Bulkhead, BulkheadConfig, NoTimer};
/// fn assert_static<F: std::future::Future + Send + 'static>(_: &F) {}
/// let b = Bulkhead::new("api", BulkheadConfig::new(1)).unwrap();
/// let fut: AcquireOwned<NoTimer> = b.acquire_owned(NoTimer);
/// assert_static(&fut);
/// ```
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct AcquireOwned<T: Timer> {
    bulkhead: Bulkhead,
    timer: T,
    #[pin]
    sleep: Option<T::Sleep>,
    core: Core,
}

impl<T: Timer> AcquireOwned<T> {
    pub(super) fn new(bulkhead: Bulkhead, timer: T) -> Self {
        AcquireOwned {
            bulkhead,
            timer,
            sleep: None,
            core: Core::new(),
        }
    }
}

impl<T: Timer> Future for AcquireOwned<T> {
    type Output = Result<OwnedBulkheadPermit, BulkheadFull>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this
            .core
            .poll(&this.bulkhead.inner, this.timer, this.sleep, cx)
        {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(OwnedBulkheadPermit {
                bulkhead: this.bulkhead.clone(),
            })),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[pinned_drop]
impl<T: Timer> PinnedDrop for AcquireOwned<T> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        this.core.cancel(&this.bulkhead.inner);
    }
}

impl<T: Timer> fmt::Debug for AcquireOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("bulkhead", &self.bulkhead.inner.name)
            .field("phase", &self.core.phase)
            .finish()
    }
}
