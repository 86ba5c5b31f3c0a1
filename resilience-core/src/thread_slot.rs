//! Small per-thread indices for single-writer counters.
//!
//! A counter that every thread adds to with one atomic read-modify-write
//! pays a locked instruction per add, even when no other thread is
//! adding. A counter split into one stripe per thread can be added to with
//! a plain load and store instead, provided each stripe has exactly one
//! writer. This module hands out that ownership: each thread that asks is
//! given the lowest free index below [`SLOTS`] (or none, when all are
//! taken), keeps it for its lifetime, and gives it back when it exits, so
//! that a later thread may reuse the index and the stripes behind it.
//!
//! The hand-over goes through one mutex: the exiting thread's last plain
//! stores happen before it returns the index, and the next owner's first
//! loads happen after it takes the index, so a stripe is never written by
//! two threads at once and its new owner sees the old owner's last value.

use std::cell::Cell;

use parking_lot::Mutex;

/// How many indices there are: threads beyond this many alive at once get
/// none, and their callers fall back to a shared atomic.
pub(crate) const SLOTS: usize = 16;

/// Not asked yet on this thread.
const UNASSIGNED: u32 = u32::MAX;
/// Asked, but every index was taken (or the thread is exiting): this thread
/// uses the shared fallback for the rest of its life.
const NONE: u32 = u32::MAX - 1;

thread_local! {
    /// This thread's index. A `const`-initialised `Cell` without a
    /// destructor: reading it is one thread-local load, and it stays
    /// readable while other thread-locals are being destroyed.
    static SLOT: Cell<u32> = const { Cell::new(UNASSIGNED) };
    /// Gives this thread's index back when the thread exits.
    static RELEASE: Cell<Option<Release>> = const { Cell::new(None) };
}

/// A set of free indices below [`SLOTS`], one bit each.
#[derive(Debug)]
pub(crate) struct Pool {
    taken: Mutex<u32>,
}

const _: () = assert!(SLOTS <= 32);

impl Pool {
    pub(crate) const fn new() -> Self {
        Pool {
            taken: Mutex::new(0),
        }
    }

    /// Takes the lowest free index.
    pub(crate) fn take(&self) -> Option<u32> {
        let mut taken = self.taken.lock();
        let free = !*taken;
        let index = free.trailing_zeros();
        if index as usize >= SLOTS {
            return None;
        }
        *taken |= 1 << index;
        Some(index)
    }

    /// Gives `index` back.
    pub(crate) fn give_back(&self, index: u32) {
        if (index as usize) < SLOTS {
            *self.taken.lock() &= !(1 << index);
        }
    }
}

static POOL: Pool = Pool::new();

/// Returns the index to [`POOL`] when its thread's thread-locals are
/// destroyed, after marking the thread as having none (a destructor that
/// runs later and records must not write a stripe that is no longer its
/// own).
#[derive(Debug)]
struct Release(u32);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = SLOT.try_with(|s| s.set(NONE));
        POOL.give_back(self.0);
    }
}

/// This thread's index below [`SLOTS`], or a value `>= SLOTS` when it has
/// none or has not asked yet ([`unasked`] tells which; [`assign`] asks).
/// One thread-local load.
#[inline(always)]
pub(crate) fn get() -> usize {
    SLOT.with(Cell::get) as usize
}

/// Whether `slot`, from [`get`], says this thread has not asked yet.
#[inline]
pub(crate) fn unasked(slot: usize) -> bool {
    slot == UNASSIGNED as usize
}

/// This thread's index below [`SLOTS`], or a value `>= SLOTS` when it has
/// none, asking for one the first time.
#[cfg(test)]
pub(crate) fn current() -> usize {
    let slot = get();
    if unasked(slot) {
        return assign();
    }
    slot
}

/// Takes an index for this thread (once: later calls return the same
/// answer), or none when all are taken.
#[cold]
#[inline(never)]
pub(crate) fn assign() -> usize {
    let slot = SLOT.with(Cell::get);
    if slot != UNASSIGNED {
        return slot as usize;
    }
    let slot = match POOL.take() {
        Some(index) => {
            // Registered before it is used: if the thread is already
            // destroying its thread-locals the registration fails, and the
            // index goes straight back.
            if RELEASE.try_with(|r| r.set(Some(Release(index)))).is_ok() {
                index
            } else {
                POOL.give_back(index);
                NONE
            }
        }
        None => NONE,
    };
    let _ = SLOT.try_with(|s| s.set(slot));
    slot as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_hands_out_the_lowest_free_index_and_takes_it_back() {
        let pool = Pool::new();
        let all: Vec<u32> = (0..SLOTS).map(|_| pool.take().unwrap()).collect();
        assert_eq!(all, (0..SLOTS as u32).collect::<Vec<_>>());
        assert_eq!(pool.take(), None);
        pool.give_back(5);
        pool.give_back(3);
        assert_eq!(pool.take(), Some(3));
        assert_eq!(pool.take(), Some(5));
        assert_eq!(pool.take(), None);
        // Out of range: ignored.
        pool.give_back(NONE);
        assert_eq!(pool.take(), None);
    }

    #[test]
    fn threads_alive_together_never_share_an_index_and_exited_threads_give_theirs_back() {
        let me = current();
        assert_eq!(current(), me);
        let barrier = std::sync::Barrier::new(SLOTS + 4);
        let seen = std::thread::scope(|s| {
            let handles: Vec<_> = (0..SLOTS + 4)
                .map(|_| {
                    s.spawn(|| {
                        let i = current();
                        // Everyone holds theirs at once.
                        barrier.wait();
                        assert_eq!(current(), i);
                        i
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        let mut owned: Vec<usize> = seen.into_iter().filter(|&i| i < SLOTS).collect();
        if me < SLOTS {
            owned.push(me);
        }
        let n = owned.len();
        owned.sort_unstable();
        owned.dedup();
        assert_eq!(owned.len(), n, "two live threads shared an index");
        // Those threads have exited. Were their indices not given back,
        // the pool would be dry for every thread from now on; other tests
        // of this process hold a few at most.
        let got: Vec<usize> = (0..2 * SLOTS)
            .map(|_| std::thread::spawn(current).join().unwrap())
            .collect();
        assert!(
            got[SLOTS..].iter().all(|&i| i < SLOTS),
            "exited threads kept their indices: {got:?}"
        );
    }
}
