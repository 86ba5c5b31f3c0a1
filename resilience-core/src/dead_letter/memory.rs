//! The in-memory queue of [`DeadLetter`]s as a [`DeadLetterStore`].

use std::collections::HashSet;
use std::future::ready;
use std::time::{Duration, Instant, SystemTime};

use super::{
    ClaimOptions, ClaimedLetter, DeadLetter, DeadLetterError, DeadLetterEvent, DeadLetterStore,
    InMemoryDeadLetterQueue, LetterId, LetterState, NewLetter, Purge, QueueStats, Receipt, Release,
    StoreError, StoreFuture, StoredLetter,
};

/// A queued letter and its metadata.
pub(super) struct Entry<T> {
    pub(super) item: T,
    id: u64,
    idempotency_key: Option<String>,
    ordering_key: Option<String>,
    replays: u32,
    first: Instant,
    last: Instant,
    next_at: Instant,
    last_error: Option<String>,
}

impl<T> Entry<T> {
    pub(super) fn new(item: T, id: u64, now: Instant) -> Entry<T> {
        Entry {
            item,
            id,
            idempotency_key: None,
            ordering_key: None,
            replays: 0,
            first: now,
            last: now,
            next_at: now,
            last_error: None,
        }
    }
}

/// A letter claimed through the store API.
pub(super) struct Claimed<T> {
    entry: Entry<T>,
    token: u64,
    until: Instant,
}

impl<T> InMemoryDeadLetterQueue<T> {
    fn wall(&self, at: Instant) -> SystemTime {
        let (origin, wall) = self.inner.origin;
        if at >= origin {
            wall + (at - origin)
        } else {
            wall.checked_sub(origin - at).unwrap_or(wall)
        }
    }

    fn invalid(&self, reason: &str) -> StoreError {
        StoreError::InvalidArgument {
            queue: self.inner.name.clone(),
            reason: reason.to_string(),
        }
    }

    fn lease_lost(&self, id: u64) -> StoreError {
        StoreError::LeaseLost {
            queue: self.inner.name.clone(),
            id: LetterId::new(id, 0),
        }
    }
}

impl<R: Clone> InMemoryDeadLetterQueue<DeadLetter<R>> {
    fn stored(&self, e: &Entry<DeadLetter<R>>, state: LetterState) -> StoredLetter<R> {
        let mut letter = StoredLetter::new(
            LetterId::new(e.id, 0),
            e.item.item.clone(),
            e.item.reason.clone(),
            e.idempotency_key
                .clone()
                .unwrap_or_else(|| format!("{}:{}", self.inner.name, e.id)),
            self.wall(e.first),
        );
        letter.ordering_key = e.ordering_key.clone();
        letter.replays = e.replays;
        letter.last_failed_at = self.wall(e.last);
        letter.last_error = e.last_error.clone();
        letter.state = state;
        letter
    }

    fn store_enqueue(&self, letter: NewLetter<R>) -> Result<LetterId, DeadLetterError<R>> {
        let NewLetter {
            item,
            reason,
            idempotency_key,
            ordering_key,
        } = letter;
        let now = self.inner.clock.now();
        let mut s = self.inner.state.lock();
        let held = s.held_total();
        if held >= self.inner.capacity {
            drop(s);
            return Err(self.refuse_full(item));
        }
        let id = s.next_id;
        s.next_id += 1;
        let mut entry = Entry::new(DeadLetter::new(item, reason), id, now);
        entry.idempotency_key = Some(idempotency_key);
        entry.ordering_key = ordering_key;
        s.queue.push_back(entry);
        drop(s);
        self.inner.metrics.enqueued(1);
        self.inner.metrics.set_depth(held + 1);
        self.inner
            .listeners
            .emit_with(|| DeadLetterEvent::Enqueued {
                queue: self.inner.name.clone(),
                depth: held + 1,
            });
        Ok(LetterId::new(id, 0))
    }

    fn store_claim(&self, options: ClaimOptions) -> Result<Vec<ClaimedLetter<R>>, StoreError> {
        if options.lease.is_zero() {
            return Err(self.invalid("a claim's lease must be longer than 0s"));
        }
        if options.max_letters == 0 {
            return Ok(Vec::new());
        }
        let now = self.inner.clock.now();
        let until = now
            .checked_add(options.lease)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        let mut s = self.inner.state.lock();
        let state = &mut *s;

        // Expired leases: back in their place, or parked past max_replays.
        let expired: Vec<u64> = state
            .claimed
            .iter()
            .filter(|(_, c)| c.until <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut reclaimed = 0;
        let mut parked = Vec::new();
        for id in expired {
            let Some(c) = state.claimed.remove(&id) else {
                continue;
            };
            let mut entry = c.entry;
            if entry.replays >= options.max_replays {
                let why = format!(
                    "its lease expired after {} deliveries without an acknowledgement (max_replays {})",
                    entry.replays, options.max_replays
                );
                entry.last_error = Some(why.clone());
                entry.last = now;
                parked.push((entry.id, why));
                state.parked.push_back(entry);
            } else {
                reclaimed += 1;
                let at = state.queue.partition_point(|e| e.id < entry.id);
                state.queue.insert(at, entry);
            }
        }

        // Pick due letters, oldest first, one per ordering key, skipping keys
        // held back by an older letter (claimed, or waiting for its backoff).
        let mut blocked: HashSet<String> = state
            .claimed
            .values()
            .filter_map(|c| c.entry.ordering_key.clone())
            .collect();
        let mut picked = Vec::new();
        for (i, e) in state.queue.iter().enumerate() {
            if picked.len() >= options.max_letters {
                break;
            }
            if let Some(k) = &e.ordering_key {
                if blocked.contains(k) {
                    continue;
                }
                blocked.insert(k.clone());
            }
            if e.next_at <= now {
                picked.push(i);
            }
        }
        let token = state.next_token;
        state.next_token += 1;
        let mut out = Vec::with_capacity(picked.len());
        for i in picked.into_iter().rev() {
            let Some(mut entry) = state.queue.remove(i) else {
                continue;
            };
            entry.replays = entry.replays.saturating_add(1);
            let letter = self.stored(&entry, LetterState::Claimed);
            let receipt = Receipt::new(letter.id, token);
            out.push(ClaimedLetter::new(letter, receipt));
            state.claimed.insert(
                entry.id,
                Claimed {
                    entry,
                    token,
                    until,
                },
            );
        }
        drop(s);
        out.reverse();
        if reclaimed > 0 {
            self.inner.metrics.reclaimed(reclaimed as u64);
            self.inner
                .listeners
                .emit_with(|| DeadLetterEvent::Reclaimed {
                    queue: self.inner.name.clone(),
                    count: reclaimed,
                });
        }
        if !parked.is_empty() {
            self.inner.metrics.parked(parked.len() as u64);
            for (id, reason) in parked {
                self.inner.listeners.emit_with(|| DeadLetterEvent::Parked {
                    queue: self.inner.name.clone(),
                    id: LetterId::new(id, 0),
                    reason,
                });
            }
        }
        Ok(out)
    }

    fn take_claim(&self, receipt: Receipt) -> Result<Entry<DeadLetter<R>>, StoreError> {
        let id = receipt.id().high();
        let mut s = self.inner.state.lock();
        match s.claimed.get(&id) {
            Some(c) if c.token == receipt.token() && receipt.id().low() == 0 => {}
            _ => return Err(self.lease_lost(id)),
        }
        s.claimed
            .remove(&id)
            .map(|c| c.entry)
            .ok_or_else(|| self.lease_lost(id))
    }

    fn store_ack(&self, receipt: Receipt) -> Result<(), StoreError> {
        self.take_claim(receipt)?;
        self.inner.metrics.replayed();
        self.inner
            .metrics
            .set_depth(self.inner.state.lock().held_total());
        Ok(())
    }

    fn store_release(&self, receipt: Receipt, release: Release) -> Result<(), StoreError> {
        let mut entry = self.take_claim(receipt)?;
        let now = self.inner.clock.now();
        let mut s = self.inner.state.lock();
        match release {
            Release::Retry { after, error } => {
                entry.last = now;
                entry.next_at = now.checked_add(after).unwrap_or(now);
                entry.last_error = Some(error);
                let at = s.queue.partition_point(|e| e.id < entry.id);
                s.queue.insert(at, entry);
                drop(s);
                self.inner.metrics.replay_failed();
            }
            Release::Untried => {
                entry.replays = entry.replays.saturating_sub(1);
                let at = s.queue.partition_point(|e| e.id < entry.id);
                s.queue.insert(at, entry);
            }
            Release::Park { error } => {
                let id = entry.id;
                entry.last = now;
                entry.last_error = Some(error.clone());
                s.parked.push_back(entry);
                drop(s);
                self.inner.metrics.parked(1);
                self.inner.listeners.emit_with(|| DeadLetterEvent::Parked {
                    queue: self.inner.name.clone(),
                    id: LetterId::new(id, 0),
                    reason: error,
                });
            }
        }
        Ok(())
    }

    fn store_stats(&self) -> QueueStats {
        let now = self.inner.clock.now();
        let s = self.inner.state.lock();
        let mut stats = QueueStats {
            parked: s.parked.len() as u64,
            in_flight: s.held as u64,
            ..QueueStats::default()
        };
        let mut oldest: Option<Instant> = None;
        for e in &s.queue {
            if e.next_at <= now {
                stats.ready += 1;
            } else {
                stats.waiting += 1;
            }
            oldest = Some(oldest.map_or(e.first, |o| o.min(e.first)));
        }
        for c in s.claimed.values() {
            if c.until <= now {
                stats.ready += 1;
            } else {
                stats.in_flight += 1;
            }
            oldest = Some(oldest.map_or(c.entry.first, |o| o.min(c.entry.first)));
        }
        drop(s);
        stats.oldest_age = oldest.map(|o| now.saturating_duration_since(o));
        self.inner.metrics.record_stats(&stats);
        stats
    }

    fn store_parked(&self, limit: usize) -> Vec<StoredLetter<R>> {
        let s = self.inner.state.lock();
        s.parked
            .iter()
            .take(limit)
            .map(|e| self.stored(e, LetterState::Parked))
            .collect()
    }

    fn store_purge(&self, purge: Purge) -> u64 {
        let mut s = self.inner.state.lock();
        let n = match purge {
            Purge::Parked => {
                let n = s.parked.len();
                s.parked.clear();
                n
            }
            Purge::All => {
                let n = s.parked.len() + s.queue.len() + s.claimed.len();
                s.parked.clear();
                s.queue.clear();
                s.claimed.clear();
                n
            }
        };
        let depth = s.held_total();
        drop(s);
        self.inner.metrics.set_depth(depth);
        n as u64
    }
}

/// The embedded store: letters are kept as [`DeadLetter`]s in memory (lost
/// with the process), leases and backoffs are judged by the queue's
/// [`Clock`](crate::clock::Clock), ordering keys are honoured (one letter
/// per key in flight, in enqueue order), and
/// [`enqueue`](DeadLetterStore::enqueue) refuses letters beyond the queue's
/// capacity (claimed and parked letters count). Every future is ready at
/// once: no operation waits.
impl<R> DeadLetterStore<R> for InMemoryDeadLetterQueue<DeadLetter<R>>
where
    R: Clone + Send + Sync,
{
    fn queue_name(&self) -> &str {
        &self.inner.name
    }

    fn enqueue(
        &self,
        letter: NewLetter<R>,
    ) -> StoreFuture<'_, Result<LetterId, DeadLetterError<R>>> {
        Box::pin(ready(self.store_enqueue(letter)))
    }

    fn claim(
        &self,
        options: ClaimOptions,
    ) -> StoreFuture<'_, Result<Vec<ClaimedLetter<R>>, StoreError>> {
        Box::pin(ready(self.store_claim(options)))
    }

    fn ack(&self, receipt: Receipt) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(ready(self.store_ack(receipt)))
    }

    fn release(
        &self,
        receipt: Receipt,
        release: Release,
    ) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(ready(self.store_release(receipt, release)))
    }

    fn stats(&self) -> StoreFuture<'_, Result<QueueStats, StoreError>> {
        Box::pin(ready(Ok(self.store_stats())))
    }

    fn parked(&self, limit: usize) -> StoreFuture<'_, Result<Vec<StoredLetter<R>>, StoreError>> {
        Box::pin(ready(Ok(self.store_parked(limit))))
    }

    fn purge(&self, purge: Purge) -> StoreFuture<'_, Result<u64, StoreError>> {
        Box::pin(ready(Ok(self.store_purge(purge))))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;
    use crate::dead_letter::DeadLetterReason;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    type Q = InMemoryDeadLetterQueue<DeadLetter<u32>>;

    fn queue(cap: usize) -> (Q, ManualClock) {
        let clock = ManualClock::new();
        (Q::with_clock("t", cap, clock.clone()).unwrap(), clock)
    }

    fn enqueue(q: &Q, item: u32, key: Option<&str>) -> LetterId {
        let mut l = NewLetter::new(item, DeadLetterReason::CircuitOpen);
        if let Some(k) = key {
            l = l.with_ordering_key(k);
        }
        block_on(q.enqueue(l)).unwrap()
    }

    fn claim(q: &Q, n: usize) -> Vec<ClaimedLetter<u32>> {
        block_on(q.claim(ClaimOptions::new(n, Duration::from_secs(10)).with_max_replays(3)))
            .unwrap()
    }

    fn items(c: &[ClaimedLetter<u32>]) -> Vec<u32> {
        c.iter().map(|l| l.item).collect()
    }

    #[test]
    fn claim_ack_and_lease_expiry() {
        let (q, clock) = queue(10);
        for i in 0..4 {
            enqueue(&q, i, None);
        }
        let a = claim(&q, 2);
        assert_eq!(items(&a), [0, 1]);
        assert_eq!(a[0].replays, 1);
        assert_eq!(items(&claim(&q, 10)), [2, 3]);
        assert!(claim(&q, 10).is_empty());
        block_on(q.ack(a[0].receipt())).unwrap();
        // Letter 1's replayer died: after the lease it is delivered again.
        clock.advance(Duration::from_secs(10));
        let again = claim(&q, 1);
        assert_eq!(items(&again), [1]);
        assert_eq!(again[0].replays, 2);
        assert!(again[0].is_redelivery());
        // The old receipt is refused; the new one works.
        assert!(matches!(
            block_on(q.ack(a[1].receipt())),
            Err(StoreError::LeaseLost { .. })
        ));
        block_on(q.ack(again[0].receipt())).unwrap();
        let stats = block_on(q.stats()).unwrap();
        // 2 and 3 are claimed under an expired lease: ready again.
        assert_eq!((stats.ready, stats.in_flight, stats.parked), (2, 0, 0));
        assert_eq!(stats.oldest_age, Some(Duration::from_secs(10)));
    }

    #[test]
    fn crash_looping_letters_are_parked() {
        let (q, clock) = queue(10);
        enqueue(&q, 7, None);
        for n in 1..=3 {
            let c = claim(&q, 1);
            assert_eq!(c[0].replays, n);
            clock.advance(Duration::from_secs(11));
        }
        assert!(claim(&q, 1).is_empty());
        let parked = block_on(q.parked(10)).unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].state, LetterState::Parked);
        assert!(parked[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("3 deliveries"));
        assert_eq!(block_on(q.purge(Purge::Parked)).unwrap(), 1);
        assert!(q.is_empty());
    }

    #[test]
    fn release_retry_untried_and_park() {
        let (q, clock) = queue(10);
        for i in 0..3 {
            enqueue(&q, i, None);
        }
        let c = claim(&q, 3);
        let retry = Release::Retry {
            after: Duration::from_secs(5),
            error: "503".into(),
        };
        block_on(q.release(c[0].receipt(), retry)).unwrap();
        block_on(q.release(c[1].receipt(), Release::Untried)).unwrap();
        block_on(q.release(
            c[2].receipt(),
            Release::Park {
                error: "bad".into(),
            },
        ))
        .unwrap();
        let s = block_on(q.stats()).unwrap();
        assert_eq!((s.ready, s.waiting, s.parked), (1, 1, 1));
        let next = claim(&q, 5);
        assert_eq!(items(&next), [1]);
        assert_eq!(next[0].replays, 1, "an untried delivery does not count");
        clock.advance(Duration::from_secs(5));
        let later = claim(&q, 5);
        assert_eq!(items(&later), [0]);
        assert_eq!(later[0].last_error.as_deref(), Some("503"));
        assert_eq!(later[0].replays, 2);
    }

    #[test]
    fn ordering_keys_deliver_one_at_a_time_in_order() {
        let (q, clock) = queue(10);
        enqueue(&q, 0, Some("a"));
        enqueue(&q, 1, Some("a"));
        enqueue(&q, 2, Some("b"));
        enqueue(&q, 3, None);
        let c = claim(&q, 10);
        assert_eq!(items(&c), [0, 2, 3]);
        assert!(claim(&q, 10).is_empty(), "1 waits for 0");
        let retry = Release::Retry {
            after: Duration::from_secs(1),
            error: "e".into(),
        };
        block_on(q.release(c[0].receipt(), retry)).unwrap();
        assert!(claim(&q, 10).is_empty(), "1 waits for 0's retry");
        clock.advance(Duration::from_secs(1));
        let c = claim(&q, 10);
        assert_eq!(items(&c), [0]);
        block_on(q.ack(c[0].receipt())).unwrap();
        assert_eq!(items(&claim(&q, 10)), [1]);
    }

    #[test]
    fn capacity_counts_claimed_and_parked_letters() {
        let (q, _clock) = queue(2);
        enqueue(&q, 0, None);
        enqueue(&q, 1, None);
        let _c = claim(&q, 2);
        let refused =
            block_on(q.enqueue(NewLetter::new(9, DeadLetterReason::CircuitOpen))).unwrap_err();
        assert!(matches!(refused, DeadLetterError::Full { .. }));
        assert_eq!(refused.into_item(), 9);
        assert_eq!(block_on(q.purge(Purge::All)).unwrap(), 2);
        enqueue(&q, 3, None);
    }

    #[test]
    fn push_and_store_api_share_the_queue() {
        let (q, _clock) = queue(10);
        q.push(DeadLetter::new(5, DeadLetterReason::CircuitOpen))
            .unwrap();
        let c = claim(&q, 1);
        assert_eq!(c[0].item, 5);
        assert_eq!(c[0].idempotency_key, "t:1");
        assert_eq!(q.len(), 1);
        block_on(q.ack(c[0].receipt())).unwrap();
        assert!(q.is_empty());
    }
}
