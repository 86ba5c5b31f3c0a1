//! The rate bucket of [`FleetStore::lease_rate`](super::FleetStore::lease_rate)
//! as the etcd store keeps it (the memory and Redis stores keep the same
//! bucket as a theoretical arrival time; the store contract test holds all
//! three to the same grants).
//!
//! A bucket is `(tokens, at)`: the tokens it holds and the instant (µs on
//! the store's clock) its last whole token was earned. It starts full,
//! gains one token every `per_token`, holds at most `burst`. Integer
//! arithmetic only, so every store computes the same grant.

use std::time::Duration;

/// `per_token` in whole microseconds, at least 1.
pub(crate) fn per_token_us(per_token: Duration) -> u64 {
    u64::try_from(per_token.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Takes up to `want` tokens from `bucket` (absent: full) at `now_us`;
/// returns the grant and the bucket to store. A clock that went back
/// (`now_us` before `at`) earns nothing until it passes `at` again.
pub(crate) fn take(
    bucket: Option<(u32, u64)>,
    now_us: u64,
    want: u32,
    burst: u32,
    per_token_us: u64,
) -> (u32, (u32, u64)) {
    let (mut tokens, mut at) = bucket.unwrap_or((burst, now_us));
    if now_us > at {
        let gained = (now_us - at) / per_token_us;
        let room = u64::from(burst.saturating_sub(tokens));
        if gained >= room {
            // Full: the next token is earned one period from now.
            tokens = burst;
            at = now_us;
        } else {
            // `gained < room <= u32::MAX`.
            tokens += u32::try_from(gained).unwrap_or(0);
            at += gained * per_token_us;
        }
    }
    tokens = tokens.min(burst);
    let grant = tokens.min(want);
    (grant, (tokens - grant, at))
}

/// The stored form: `tokens|at`.
pub(crate) fn encode(bucket: (u32, u64)) -> String {
    format!("{}|{}", bucket.0, bucket.1)
}

/// Reads the stored form back.
pub(crate) fn decode(text: &str) -> Option<(u32, u64)> {
    let (t, a) = text.split_once('|')?;
    Some((t.parse().ok()?, a.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_starts_full_and_refills_one_token_per_period() {
        let per = per_token_us(Duration::from_millis(100));
        let (g, b) = take(None, 1_000_000, 8, 5, per);
        assert_eq!(g, 5, "starts full: a burst of 5");
        let (g, b) = take(Some(b), 1_000_000 + 250_000, 8, 5, per);
        assert_eq!(g, 2, "250 ms at one token per 100 ms earns 2");
        let (g, b) = take(Some(b), 1_000_000 + 300_000, 8, 5, per);
        assert_eq!(g, 1, "the 50 ms left over from the last period count");
        let (g, _) = take(Some(b), 1_000_000 + 60_000_000, 8, 5, per);
        assert_eq!(g, 5, "never more than the burst of 5");
    }

    #[test]
    fn a_clock_that_goes_back_earns_nothing() {
        let per = per_token_us(Duration::from_millis(10));
        let (_, b) = take(None, 5_000_000, 3, 3, per);
        let (g, b2) = take(Some(b), 4_000_000, 3, 3, per);
        assert_eq!(g, 0);
        assert_eq!(b2, b);
        assert_eq!(decode(&encode(b)), Some(b));
        assert_eq!(decode("x|1"), None);
    }
}
