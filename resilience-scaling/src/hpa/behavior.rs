//! Stabilization windows and rate-limiting policies (the controller's
//! `normalizeDesiredReplicasWithBehaviors`).
//!
//! Times are nanoseconds (`i64`) since the HPA's origin instant. The
//! controller keeps a list of recommendations and replaces the ones older
//! than both windows; here a monotonic deque per direction gives the same
//! minimum (scale-up window) and maximum (scale-down window) in amortized
//! O(1) (entries older than both windows can never count again, which is
//! why the controller may overwrite them). Scale events are kept exactly as
//! the controller keeps them. The test suite checks both against a direct
//! model of the controller's lists.

use std::collections::VecDeque;

use super::decision::{Limit, Stabilization};
use super::manifest::{PolicyType, ScalingRules, SelectPolicy};

pub(crate) use crate::arith::nanos;
use crate::arith::{clamp_u32, f64_to_i64};

#[derive(Debug, Clone, Default)]
pub(crate) struct Stabilizer {
    /// (time, value), values increasing: the minimum over the scale-up window.
    min_q: VecDeque<(i64, u32)>,
    /// (time, value), values decreasing: the maximum over the scale-down window.
    max_q: VecDeque<(i64, u32)>,
}

impl Stabilizer {
    pub(crate) fn len(&self) -> usize {
        self.min_q.len().max(self.max_q.len())
    }

    /// Records a recommendation without stabilizing anything (the
    /// controller's `recordInitialRecommendation`).
    pub(crate) fn record(&mut self, now: i64, value: u32) {
        while self.min_q.back().is_some_and(|&(_, v)| v >= value) {
            self.min_q.pop_back();
        }
        self.min_q.push_back((now, value));
        while self.max_q.back().is_some_and(|&(_, v)| v <= value) {
            self.max_q.pop_back();
        }
        self.max_q.push_back((now, value));
    }

    /// The controller's `stabilizeRecommendation` for an HPA without
    /// `behavior`: the highest recommendation of the last `window`
    /// (a recommendation exactly `window` old still counts) and `desired`;
    /// records `desired`.
    pub(crate) fn stabilize_legacy(&mut self, now: i64, window: i64, desired: u32) -> u32 {
        let cutoff = now.saturating_sub(window);
        while self.max_q.front().is_some_and(|&(t, _)| t < cutoff) {
            self.max_q.pop_front();
        }
        let rec = self.max_q.front().map_or(desired, |&(_, v)| v.max(desired));
        self.record(now, desired);
        // The scale-up side is unused without behavior: keep it empty.
        self.min_q.clear();
        rec
    }

    /// Returns the stabilized recommendation and records `desired` at `now`.
    pub(crate) fn stabilize(
        &mut self,
        now: i64,
        up_window: i64,
        down_window: i64,
        current: u32,
        desired: u32,
    ) -> (u32, Stabilization) {
        let up_cutoff = now.saturating_sub(up_window);
        let down_cutoff = now.saturating_sub(down_window);
        while self.min_q.front().is_some_and(|&(t, _)| t <= up_cutoff) {
            self.min_q.pop_front();
        }
        while self.max_q.front().is_some_and(|&(t, _)| t <= down_cutoff) {
            self.max_q.pop_front();
        }
        let up_rec = self.min_q.front().map_or(desired, |&(_, v)| v.min(desired));
        let down_rec = self.max_q.front().map_or(desired, |&(_, v)| v.max(desired));
        let mut rec = current;
        if rec < up_rec {
            rec = up_rec;
        }
        if rec > down_rec {
            rec = down_rec;
        }
        self.record(now, desired);
        let how = if rec == desired {
            Stabilization::Unchanged
        } else if desired >= current {
            Stabilization::ScaleUpStabilized
        } else {
            Stabilization::ScaleDownStabilized
        };
        (rec, how)
    }
}

/// Scale events of one direction; `change` is a magnitude. Kept exactly as
/// the controller keeps them: on each store, events older than the
/// direction's longest policy period are marked outdated and the last
/// outdated one is replaced by the new event. (Outdated events still count
/// in sums while they lie inside a longer period of the other direction.)
#[derive(Debug, Clone, Default)]
pub(crate) struct EventLog {
    q: Vec<ScaleEvent>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ScaleEvent {
    pub(crate) at: i64,
    pub(crate) change: u32,
    pub(crate) outdated: bool,
}

impl EventLog {
    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }

    /// The stored events, in storage order.
    pub(crate) fn events(&self) -> &[ScaleEvent] {
        &self.q
    }

    /// `storeScaleEvent` for one direction.
    pub(crate) fn store(&mut self, at: i64, change: u32, longest: i64) {
        if change == 0 {
            return;
        }
        let cutoff = at.saturating_sub(longest);
        let mut old = None;
        for (i, e) in self.q.iter_mut().enumerate() {
            if e.at < cutoff {
                e.outdated = true;
            }
            if e.outdated {
                old = Some(i);
            }
        }
        let new = ScaleEvent {
            at,
            change,
            outdated: false,
        };
        match old.and_then(|i| self.q.get_mut(i)) {
            Some(slot) => *slot = new,
            None => self.q.push(new),
        }
    }

    /// Sum of changes strictly after `now - period`.
    pub(crate) fn change_in_period(&self, now: i64, period: i64) -> i64 {
        let cutoff = now.saturating_sub(period);
        self.q
            .iter()
            .filter(|e| e.at > cutoff)
            .fold(0i64, |acc, e| acc.saturating_add(i64::from(e.change)))
    }
}

fn period_start(now: i64, current: i64, policy_period: i64, up: &EventLog, down: &EventLog) -> i64 {
    current
        .saturating_sub(up.change_in_period(now, policy_period))
        .saturating_add(down.change_in_period(now, policy_period))
}

/// Which way a limit bounds the count.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// `calculateScaleUpLimitWithScalingRules`: the limit and the index of the
/// policy that set it.
pub(crate) fn scale_up_limit(
    now: i64,
    current: i64,
    up: &EventLog,
    down: &EventLog,
    rules: &ScalingRules,
) -> (i64, Option<usize>) {
    limit_with_rules(now, current, up, down, rules, Direction::Up)
}

/// `calculateScaleDownLimitWithBehaviors`.
pub(crate) fn scale_down_limit(
    now: i64,
    current: i64,
    up: &EventLog,
    down: &EventLog,
    rules: &ScalingRules,
) -> (i64, Option<usize>) {
    limit_with_rules(now, current, up, down, rules, Direction::Down)
}

/// Each policy proposes a count from the count at the start of its period;
/// `selectPolicy: Max` keeps the largest change (the highest count going
/// up, the lowest going down), `Min` the smallest. Ties keep the first
/// policy.
fn limit_with_rules(
    now: i64,
    current: i64,
    up: &EventLog,
    down: &EventLog,
    rules: &ScalingRules,
    direction: Direction,
) -> (i64, Option<usize>) {
    let largest_change = match rules.select_policy {
        SelectPolicy::Disabled => return (current, None),
        SelectPolicy::Min => false,
        SelectPolicy::Max => true,
    };
    let prefer_higher = largest_change == (direction == Direction::Up);
    let mut best: Option<(i64, usize)> = None;
    for (i, p) in rules.policies.iter().enumerate() {
        let start = period_start(now, current, nanos(p.period), up, down);
        let proposed = match (direction, p.type_) {
            (Direction::Up, PolicyType::Pods) => start.saturating_add(i64::from(p.value)),
            (Direction::Up, PolicyType::Percent) => {
                f64_to_i64((start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil())
            }
            (Direction::Down, PolicyType::Pods) => start.saturating_sub(i64::from(p.value)),
            (Direction::Down, PolicyType::Percent) => {
                f64_to_i64(start as f64 * (1.0 - f64::from(p.value) / 100.0))
            }
        };
        best = match best {
            None => Some((proposed, i)),
            Some((b, _)) if (prefer_higher && proposed > b) || (!prefer_higher && proposed < b) => {
                Some((proposed, i))
            }
            keep => keep,
        };
    }
    match best {
        Some((v, i)) => (v, Some(i)),
        None => (current, None),
    }
}

/// `convertDesiredReplicasWithBehaviorRate`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rate_limit(
    now: i64,
    current: u32,
    desired: u32,
    min: u32,
    max: u32,
    up_rules: &ScalingRules,
    down_rules: &ScalingRules,
    up: &EventLog,
    down: &EventLog,
) -> (u32, Limit) {
    let (cur, des) = (i64::from(current), i64::from(desired));
    if des > cur {
        let (mut limit, policy) = scale_up_limit(now, cur, up, down, up_rules);
        if limit < cur {
            limit = cur;
        }
        let (allowed, why) = if i64::from(max) > limit {
            (limit, Limit::ScaleUpLimit { policy })
        } else {
            (i64::from(max), Limit::TooManyReplicas)
        };
        if des > allowed {
            return (clamp_u32(allowed), why);
        }
    } else if des < cur {
        let (mut limit, policy) = scale_down_limit(now, cur, up, down, down_rules);
        if limit > cur {
            limit = cur;
        }
        let (allowed, why) = if i64::from(min) < limit {
            (limit, Limit::ScaleDownLimit { policy })
        } else {
            (i64::from(min), Limit::TooFewReplicas)
        };
        if des < allowed {
            return (clamp_u32(allowed), why);
        }
    }
    (desired, Limit::DesiredWithinRange)
}

/// `convertDesiredReplicasWithRules`, the rate rule of an HPA without
/// `behavior`: at most `max(2 × current, 4)` replicas, no scale-down limit.
pub(crate) fn legacy_rate_limit(current: u32, desired: u32, min: u32, max: u32) -> (u32, Limit) {
    // scaleUpLimitFactor 2.0, scaleUpLimitMinimum 4.0.
    let scale_up_limit = current.saturating_mul(2).max(4);
    let (max_allowed, why) = if max > scale_up_limit {
        (scale_up_limit, Limit::ScaleUpLimit { policy: None })
    } else {
        (max, Limit::TooManyReplicas)
    };
    if desired < min {
        (min, Limit::TooFewReplicas)
    } else if desired > max_allowed {
        (max_allowed, why)
    } else {
        (desired, Limit::DesiredWithinRange)
    }
}
