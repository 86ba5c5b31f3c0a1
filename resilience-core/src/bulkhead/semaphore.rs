//! The permit counter and waiter queue under every bulkhead.
//!
//! One `AtomicU64` holds the whole admission state:
//!
//! ```text
//!  63        62 ........ 32   31 ......... 0
//! [waiters] [     limit    ] [  in flight  ]
//! ```
//!
//! * The uncontended path (`try_acquire`) is one load and one CAS that bumps
//!   `in flight` when it is below `limit` and the waiters bit is clear. It
//!   takes no lock and allocates nothing.
//! * Releasing is one `fetch_sub`. Only when the waiters bit was set does the
//!   releaser take the queue lock and hand free permits to queued waiters.
//! * While anyone is queued the waiters bit is set, so a newcomer on the fast
//!   path cannot barge past the queue: waiters are served in priority order,
//!   FIFO within a priority.
//!
//! The waiters bit is only set and cleared with the queue lock held, and the
//! queue is empty exactly when the bit is clear. Every operation that can
//! free capacity while the bit is set (release, growing the limit, enqueueing
//! a waiter) ends with a drain, so a queued waiter is never stranded next to
//! a free permit.
//!
//! # Invariants
//!
//! 1. `in flight` counts permits held by callers plus permits granted to
//!    queued waiters that have not polled yet; it changes only through
//!    [`Semaphore::update`] (take) and `fetch_sub` (release), so a permit is
//!    never created or lost by a race between the two.
//! 2. `in flight` may exceed `limit` only after the limit shrank: nothing
//!    takes a permit unless `in flight < limit` held in the same CAS.
//! 3. The waiters bit is set ⇔ the queue is non-empty, both changed under
//!    the queue lock. A fast-path taker that sees the bit clear cannot
//!    overtake a waiter: a waiter sets the bit (under the lock) and then
//!    drains, so a permit freed between its check and its setting the bit is
//!    still handed out.
//! 4. Memory ordering: a successful take is `Acquire` and a release is
//!    `Release`, so whatever the previous holder wrote before releasing is
//!    visible to the next holder, as with a lock. Operations under the queue
//!    lock use `AcqRel`; the lock orders the queue itself.
//! 5. Wakers run outside the lock (see above), and a slot's generation makes
//!    a stale ticket harmless.
//!
//! Wakers are never called with the lock held: a drain collects at most
//! [`WAKE_BATCH`] of them, unlocks, wakes them, and goes on if there is more
//! to hand out. An executor that polls inside `wake` cannot deadlock here.
//!
//! Waiters live in a slab of slots addressed by `(index, generation)` tickets.
//! A ticket's owner (the acquire future) polls it, and cancels it when
//! dropped: a cancelled waiter leaves the queue, and a permit that had already
//! been handed to it is released again, so no permit is ever lost.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;

use parking_lot::Mutex;

use super::config::Priority;

/// How many wakers a drain collects before it unlocks to wake them.
const WAKE_BATCH: usize = 16;

/// Wakers collected under the lock, woken after it is released.
struct WakeList {
    wakers: [Option<Waker>; WAKE_BATCH],
    len: usize,
}

impl WakeList {
    fn new() -> Self {
        WakeList {
            wakers: [const { None }; WAKE_BATCH],
            len: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.len >= WAKE_BATCH
    }

    fn push(&mut self, waker: Waker) {
        if let Some(slot) = self.wakers.get_mut(self.len) {
            *slot = Some(waker);
            self.len += 1;
        } else {
            // Callers check `is_full` first; never drop a wake-up regardless.
            waker.wake();
        }
    }

    fn wake_all(&mut self) {
        for w in self.wakers.iter_mut().take(self.len) {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
        self.len = 0;
    }
}

/// The largest limit a bulkhead can have: 2^31 - 1 permits.
pub(crate) const MAX_PERMITS: u32 = (1 << 31) - 1;

const WAITERS: u64 = 1 << 63;
const COUNT_MASK: u64 = 0xFFFF_FFFF;
const LIMIT_SHIFT: u32 = 32;
const LIMIT_MASK: u64 = (MAX_PERMITS as u64) << LIMIT_SHIFT;

// The packing above, checked at compile time: the three fields are disjoint
// and cover the word, and `in flight` (at most `MAX_PERMITS`: nothing takes a
// permit at or above the limit) never carries into the limit.
const _: () = {
    assert!(COUNT_MASK & LIMIT_MASK == 0);
    assert!(COUNT_MASK & WAITERS == 0);
    assert!(LIMIT_MASK & WAITERS == 0);
    assert!(COUNT_MASK | LIMIT_MASK | WAITERS == u64::MAX);
    assert!((MAX_PERMITS as u64) < COUNT_MASK);
    assert!(LIMIT_MASK >> LIMIT_SHIFT == MAX_PERMITS as u64);
};

/// Whether a newcomer may take a permit: capacity, and nobody queued.
#[inline]
fn free_for_newcomer(state: u64) -> bool {
    state & WAITERS == 0 && has_capacity(state)
}

#[inline]
fn in_flight_of(state: u64) -> u32 {
    (state & COUNT_MASK) as u32
}

#[inline]
fn limit_of(state: u64) -> u32 {
    ((state & LIMIT_MASK) >> LIMIT_SHIFT) as u32
}

#[inline]
fn has_capacity(state: u64) -> bool {
    in_flight_of(state) < limit_of(state)
}

/// A queued waiter's claim: which slot, and which use of that slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    index: u32,
    generation: u32,
}

/// What [`Semaphore::enqueue`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Enqueue {
    /// A permit was free after all; the caller holds it now.
    Acquired,
    /// The caller waits in the queue with this ticket.
    Queued(Ticket),
    /// The queue is full of waiters of the same or higher priority.
    QueueFull,
}

/// What a queued ticket's state is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TicketState {
    /// Still queued; the waker is registered.
    Waiting,
    /// A permit was handed over; the caller holds it now.
    Granted,
    /// A higher-priority caller took the place in a full queue.
    Shed,
}

#[derive(Debug)]
enum SlotState {
    Free,
    Waiting { waker: Option<Waker>, lane: usize },
    Granted,
    Shed,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    state: SlotState,
}

#[derive(Debug)]
struct WaitQueue {
    /// One FIFO per priority, indexed by `Priority::lane()` (high = last).
    lanes: [VecDeque<u32>; Priority::LANES],
    slots: Vec<Slot>,
    free: Vec<u32>,
    waiting: usize,
    max_waiting: usize,
}

impl WaitQueue {
    fn slot_mut(&mut self, ticket: Ticket) -> Option<&mut Slot> {
        let slot = self.slots.get_mut(ticket.index as usize)?;
        (slot.generation == ticket.generation).then_some(slot)
    }

    fn alloc(&mut self, lane: usize, waker: Waker) -> Option<Ticket> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot {
                    generation: 0,
                    state: SlotState::Free,
                });
                i
            }
        };
        let slot = self.slots.get_mut(index as usize)?;
        slot.state = SlotState::Waiting {
            waker: Some(waker),
            lane,
        };
        Some(Ticket {
            index,
            generation: slot.generation,
        })
    }

    fn free_slot(&mut self, ticket: Ticket) {
        if let Some(slot) = self.slot_mut(ticket) {
            slot.state = SlotState::Free;
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(ticket.index);
        }
    }

    /// The next waiter to serve: highest lane first, FIFO within a lane.
    fn front(&self) -> Option<(usize, u32)> {
        self.lanes
            .iter()
            .enumerate()
            .rev()
            .find_map(|(lane, q)| q.front().map(|&i| (lane, i)))
    }

    /// Removes the newest waiter of the lowest lane below `lane`, if any.
    fn shed_below(&mut self, lane: usize, wakers: &mut WakeList) -> bool {
        let Some(victim_lane) =
            (0..lane).find(|&l| self.lanes.get(l).is_some_and(|q| !q.is_empty()))
        else {
            return false;
        };
        let Some(index) = self.lanes.get_mut(victim_lane).and_then(VecDeque::pop_back) else {
            return false;
        };
        self.waiting = self.waiting.saturating_sub(1);
        if let Some(slot) = self.slots.get_mut(index as usize) {
            if let SlotState::Waiting { waker: Some(w), .. } =
                std::mem::replace(&mut slot.state, SlotState::Shed)
            {
                wakers.push(w);
            }
        }
        true
    }
}

/// A counting semaphore with a runtime-changeable limit, a bounded
/// priority wait queue and a lock-free uncontended path.
#[derive(Debug)]
pub(crate) struct Semaphore {
    state: AtomicU64,
    queue: Mutex<WaitQueue>,
}

impl Semaphore {
    /// A semaphore with `limit` permits (clamped to `1..=MAX_PERMITS`) and a
    /// queue of at most `max_waiting` waiters.
    pub(crate) fn new(limit: u32, max_waiting: usize) -> Self {
        let limit = limit.clamp(1, MAX_PERMITS);
        Semaphore {
            state: AtomicU64::new(u64::from(limit) << LIMIT_SHIFT),
            queue: Mutex::new(WaitQueue {
                lanes: Default::default(),
                slots: Vec::new(),
                free: Vec::new(),
                waiting: 0,
                max_waiting,
            }),
        }
    }

    /// The one compare-and-swap loop of the semaphore: replaces the state
    /// with `next(state)` while `next` returns `Some`, retrying on races.
    /// Returns the state it replaced (`Ok`) or the state `next` refused
    /// (`Err`). `success` orders a successful swap; `load` orders the reads.
    ///
    /// Always inlined: the closures and orderings are constants at every
    /// call site, so the fast path compiles to the same load + CAS as a
    /// hand-written loop.
    #[inline(always)]
    fn update(
        &self,
        success: Ordering,
        load: Ordering,
        next: impl FnMut(u64) -> Option<u64>,
    ) -> Result<u64, u64> {
        self.state.fetch_update(success, load, next)
    }

    /// Takes a permit if one is free and nobody is queued. Lock-free.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        self.update(Ordering::Acquire, Ordering::Relaxed, |s| {
            free_for_newcomer(s).then_some(s + 1)
        })
        .is_ok()
    }

    /// Returns a permit. One atomic operation unless someone is queued.
    #[inline]
    pub(crate) fn release(&self) {
        let previous = self.state.fetch_sub(1, Ordering::Release);
        debug_assert!(
            in_flight_of(previous) > 0,
            "released more permits than acquired"
        );
        if previous & WAITERS != 0 {
            self.release_slow();
        }
    }

    #[cold]
    fn release_slow(&self) {
        self.drain();
    }

    /// Hands free permits to queued waiters, waking them outside the lock.
    fn drain(&self) {
        let mut wakers = WakeList::new();
        loop {
            let more = {
                let mut queue = self.queue.lock();
                self.drain_locked(&mut queue, &mut wakers)
            };
            wakers.wake_all();
            if !more {
                return;
            }
        }
    }

    /// Hands free permits to queued waiters, best priority first, collecting
    /// their wakers. Clears the waiters bit when the queue is empty. Returns
    /// `true` when it stopped because `wakers` is full (call again after
    /// waking them). Must hold the queue lock.
    fn drain_locked(&self, queue: &mut WaitQueue, wakers: &mut WakeList) -> bool {
        loop {
            let Some((lane, index)) = queue.front() else {
                self.state.fetch_and(!WAITERS, Ordering::AcqRel);
                return false;
            };
            if wakers.is_full() {
                return true;
            }
            // Claim one permit for the front waiter, if one is free (the
            // waiters bit is set: the front waiter is first in line).
            let claimed = self.update(Ordering::AcqRel, Ordering::Acquire, |s| {
                has_capacity(s).then_some(s + 1)
            });
            if claimed.is_err() {
                return false;
            }
            if let Some(q) = queue.lanes.get_mut(lane) {
                q.pop_front();
            }
            queue.waiting = queue.waiting.saturating_sub(1);
            match queue.slots.get_mut(index as usize) {
                Some(slot) => {
                    if let SlotState::Waiting { waker: Some(w), .. } =
                        std::mem::replace(&mut slot.state, SlotState::Granted)
                    {
                        wakers.push(w);
                    }
                }
                None => {
                    // Unreachable by construction; never keep a permit nobody owns.
                    self.state.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// Takes a permit if possible without barging; otherwise queues the
    /// caller at `priority`, shedding the newest lower-priority waiter when
    /// the queue is full.
    pub(crate) fn enqueue(&self, priority: Priority, waker: &Waker) -> Enqueue {
        let mut wakers = WakeList::new();
        let (result, more) = self.enqueue_locked(priority, waker, &mut wakers);
        wakers.wake_all();
        if more {
            self.drain();
        }
        result
    }

    fn enqueue_locked(
        &self,
        priority: Priority,
        waker: &Waker,
        wakers: &mut WakeList,
    ) -> (Enqueue, bool) {
        let mut queue = self.queue.lock();
        let taken = self.update(Ordering::AcqRel, Ordering::Acquire, |s| {
            free_for_newcomer(s).then_some(s + 1)
        });
        if taken.is_ok() {
            return (Enqueue::Acquired, false);
        }
        let lane = priority.lane();
        if queue.waiting >= queue.max_waiting && !queue.shed_below(lane, wakers) {
            return (Enqueue::QueueFull, false);
        }
        let Some(ticket) = queue.alloc(lane, waker.clone()) else {
            return (Enqueue::QueueFull, false);
        };
        if let Some(q) = queue.lanes.get_mut(lane) {
            q.push_back(ticket.index);
        }
        queue.waiting += 1;
        self.state.fetch_or(WAITERS, Ordering::AcqRel);
        // A permit may have been released between the check above and setting
        // the bit (that releaser saw no waiters and did not drain).
        let more = self.drain_locked(&mut queue, wakers);
        if let Some(slot) = queue.slot_mut(ticket) {
            if matches!(slot.state, SlotState::Granted) {
                queue.free_slot(ticket);
                return (Enqueue::Acquired, more);
            }
        }
        (Enqueue::Queued(ticket), more)
    }

    /// Checks a ticket; registers `waker` while it is still waiting. A granted
    /// or shed ticket is consumed.
    pub(crate) fn poll_ticket(&self, ticket: Ticket, waker: &Waker) -> TicketState {
        let mut queue = self.queue.lock();
        let Some(slot) = queue.slot_mut(ticket) else {
            return TicketState::Shed;
        };
        match &mut slot.state {
            SlotState::Waiting { waker: w, .. } => {
                match w {
                    Some(old) if old.will_wake(waker) => {}
                    _ => *w = Some(waker.clone()),
                }
                TicketState::Waiting
            }
            SlotState::Granted => {
                queue.free_slot(ticket);
                TicketState::Granted
            }
            SlotState::Shed | SlotState::Free => {
                queue.free_slot(ticket);
                TicketState::Shed
            }
        }
    }

    /// Withdraws a ticket. Returns `true` when a permit had already been
    /// handed to it: the caller then holds that permit (and must release it
    /// or keep it). A waiting ticket simply leaves the queue.
    pub(crate) fn withdraw(&self, ticket: Ticket) -> bool {
        let mut queue = self.queue.lock();
        let Some(slot) = queue.slot_mut(ticket) else {
            return false;
        };
        match slot.state {
            SlotState::Waiting { lane, .. } => {
                if let Some(q) = queue.lanes.get_mut(lane) {
                    if let Some(pos) = q.iter().position(|&i| i == ticket.index) {
                        q.remove(pos);
                    }
                }
                queue.waiting = queue.waiting.saturating_sub(1);
                queue.free_slot(ticket);
                // Removing a waiter frees no permit: nothing to hand out.
                if queue.waiting == 0 {
                    self.state.fetch_and(!WAITERS, Ordering::AcqRel);
                }
                false
            }
            SlotState::Granted => {
                queue.free_slot(ticket);
                true
            }
            SlotState::Shed | SlotState::Free => {
                queue.free_slot(ticket);
                false
            }
        }
    }

    /// Cancels a ticket for good: a permit already handed to it goes back.
    pub(crate) fn cancel(&self, ticket: Ticket) {
        if self.withdraw(ticket) {
            self.release();
        }
    }

    /// Changes the limit; returns the previous one. Growing hands the new
    /// permits to waiters; shrinking lets the permits in flight finish.
    pub(crate) fn set_limit(&self, limit: u32) -> u32 {
        let limit = limit.clamp(1, MAX_PERMITS);
        let with_limit = |s: u64| Some((s & !LIMIT_MASK) | (u64::from(limit) << LIMIT_SHIFT));
        // `with_limit` never refuses, so both arms carry the replaced state.
        let state = match self.update(Ordering::AcqRel, Ordering::Acquire, with_limit) {
            Ok(prev) | Err(prev) => prev,
        };
        let previous = limit_of(state);
        if limit > previous && state & WAITERS != 0 {
            self.drain();
        }
        previous
    }

    /// Changes how many callers may queue. Waiters already queued stay.
    pub(crate) fn set_max_waiting(&self, max_waiting: usize) {
        self.queue.lock().max_waiting = max_waiting;
    }

    /// Permits currently held.
    #[inline]
    pub(crate) fn in_flight(&self) -> u32 {
        in_flight_of(self.state.load(Ordering::Acquire))
    }

    /// The current limit.
    #[inline]
    pub(crate) fn limit(&self) -> u32 {
        limit_of(self.state.load(Ordering::Acquire))
    }

    /// Callers currently queued.
    pub(crate) fn waiting(&self) -> usize {
        self.queue.lock().waiting
    }

    /// The queue bound.
    pub(crate) fn max_waiting(&self) -> usize {
        self.queue.lock().max_waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct CountWaker(AtomicUsize);
    impl Wake for CountWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<CountWaker>, Waker) {
        let c = Arc::new(CountWaker::default());
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn fast_path_respects_limit() {
        let s = Semaphore::new(2, 4);
        assert!(s.try_acquire());
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        assert_eq!(s.in_flight(), 2);
        s.release();
        assert!(s.try_acquire());
    }

    #[test]
    fn queued_waiter_gets_released_permit_and_blocks_barging() {
        let s = Semaphore::new(1, 4);
        assert!(s.try_acquire());
        let (count, w) = waker();
        let Enqueue::Queued(t) = s.enqueue(Priority::Medium, &w) else {
            panic!("expected to queue");
        };
        s.release();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // The permit went to the waiter: a newcomer cannot take it.
        assert!(!s.try_acquire());
        assert_eq!(s.poll_ticket(t, &w), TicketState::Granted);
        assert_eq!(s.in_flight(), 1);
        assert_eq!(s.waiting(), 0);
        s.release();
        assert_eq!(s.in_flight(), 0);
        assert!(s.try_acquire());
    }

    #[test]
    fn cancelled_grant_is_returned() {
        let s = Semaphore::new(1, 4);
        assert!(s.try_acquire());
        let (_, w) = waker();
        let Enqueue::Queued(t) = s.enqueue(Priority::Medium, &w) else {
            panic!("expected to queue");
        };
        s.release();
        s.cancel(t);
        assert_eq!(s.in_flight(), 0);
        assert!(s.try_acquire());
    }

    #[test]
    fn higher_priority_served_first_and_sheds_lower() {
        let s = Semaphore::new(1, 2);
        assert!(s.try_acquire());
        let (low_count, w) = waker();
        let Enqueue::Queued(low) = s.enqueue(Priority::Low, &w) else {
            panic!()
        };
        let Enqueue::Queued(mid) = s.enqueue(Priority::Medium, &w) else {
            panic!()
        };
        // Queue full: a high-priority caller sheds the low one.
        let (_, hw) = waker();
        let Enqueue::Queued(high) = s.enqueue(Priority::High, &hw) else {
            panic!()
        };
        assert!(low_count.0.load(Ordering::SeqCst) >= 1);
        assert_eq!(s.poll_ticket(low, &w), TicketState::Shed);
        // Another low one cannot get in.
        assert_eq!(s.enqueue(Priority::Low, &w), Enqueue::QueueFull);
        s.release();
        assert_eq!(s.poll_ticket(high, &hw), TicketState::Granted);
        assert_eq!(s.poll_ticket(mid, &w), TicketState::Waiting);
        s.release();
        assert_eq!(s.poll_ticket(mid, &w), TicketState::Granted);
        s.release();
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.waiting(), 0);
    }

    #[test]
    fn resize_grows_into_waiters_and_shrinks_gracefully() {
        let s = Semaphore::new(2, 8);
        assert!(s.try_acquire());
        assert!(s.try_acquire());
        let (_, w) = waker();
        let Enqueue::Queued(t) = s.enqueue(Priority::Medium, &w) else {
            panic!()
        };
        assert_eq!(s.set_limit(3), 2);
        assert_eq!(s.poll_ticket(t, &w), TicketState::Granted);
        assert_eq!(s.set_limit(1), 3);
        assert_eq!(s.in_flight(), 3);
        assert!(!s.try_acquire());
        s.release();
        s.release();
        assert!(!s.try_acquire());
        s.release();
        assert!(s.try_acquire());
        assert_eq!(s.limit(), 1);
    }

    #[test]
    fn growing_past_a_wake_batch_grants_everyone() {
        let s = Semaphore::new(1, 100);
        assert!(s.try_acquire());
        let (count, w) = waker();
        let tickets: Vec<_> = (0..40)
            .map(|_| match s.enqueue(Priority::Medium, &w) {
                Enqueue::Queued(t) => t,
                other => panic!("{other:?}"),
            })
            .collect();
        s.set_limit(41);
        assert_eq!(count.0.load(Ordering::SeqCst), 40);
        for t in tickets {
            assert_eq!(s.poll_ticket(t, &w), TicketState::Granted);
        }
        assert_eq!(s.in_flight(), 41);
        assert_eq!(s.waiting(), 0);
    }

    /// A waker that re-enters the semaphore when woken (as an executor that
    /// polls inside `wake` would). Deadlocks if wakers run under the lock.
    struct Reentrant(Arc<Semaphore>, AtomicUsize);
    impl Wake for Reentrant {
        fn wake(self: Arc<Self>) {
            let _ = self.0.waiting();
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakers_run_outside_the_lock() {
        let s = Arc::new(Semaphore::new(1, 8));
        assert!(s.try_acquire());
        let r = Arc::new(Reentrant(s.clone(), AtomicUsize::new(0)));
        let w = Waker::from(r.clone());
        let Enqueue::Queued(low) = s.enqueue(Priority::Low, &w) else {
            panic!()
        };
        s.set_max_waiting(1);
        // Shedding wakes the low waiter; granting wakes the high one.
        let Enqueue::Queued(high) = s.enqueue(Priority::High, &w) else {
            panic!()
        };
        s.release();
        assert_eq!(r.1.load(Ordering::SeqCst), 2);
        assert_eq!(s.poll_ticket(low, &w), TicketState::Shed);
        assert_eq!(s.poll_ticket(high, &w), TicketState::Granted);
    }

    #[test]
    fn slot_reuse_does_not_confuse_tickets() {
        let s = Semaphore::new(1, 8);
        assert!(s.try_acquire());
        let (_, w) = waker();
        let Enqueue::Queued(a) = s.enqueue(Priority::Medium, &w) else {
            panic!()
        };
        s.cancel(a);
        let Enqueue::Queued(b) = s.enqueue(Priority::Medium, &w) else {
            panic!()
        };
        assert_ne!(a, b);
        // The stale ticket is not the live one.
        assert_eq!(s.poll_ticket(a, &w), TicketState::Shed);
        assert_eq!(s.poll_ticket(b, &w), TicketState::Waiting);
        s.cancel(b);
        assert_eq!(s.waiting(), 0);
        s.release();
        assert!(s.try_acquire());
    }
}
